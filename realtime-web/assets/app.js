// The voice page: microphone → relay (binary PCM16 24 kHz), relay → speakers, transcript,
// tool activity, barge-in. Protocol v1, documented in the realtime-web crate.

const $ = (id) => document.getElementById(id);
const debug = {
  state: 'idle',
  micMsSent: 0,
  playedMs: 0,
  interruptions: 0,
  lastInterruption: null,
  transcript: [],
  errors: [],
  items: {}, // item_id -> ms played
  audio: null, // { state, sampleRate } of the AudioContext
};
window.realtimeDebug = debug;

let ws = null;
let ctx = null;
let stream = null;
let capture = null;
let player = null;
let muted = false;
let pushToTalk = false;
let talking = false;
let agentName = '';
const turns = new Map(); // item_id -> { el, entry }
const playedByItem = new Map(); // item_id -> ms
const reported = new Map(); // item_id -> ms last sent to the relay

function setState(state, text) {
  debug.state = state;
  const s = $('status');
  s.dataset.state = state;
  s.textContent = text;
}

function turn(itemId, role, agent) {
  let t = turns.get(itemId);
  if (!t) {
    const el = document.createElement('div');
    el.className = `turn ${role}`;
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = role === 'user' ? 'You:' : `${agent || agentName}:`;
    const text = document.createElement('span');
    text.className = 'text';
    el.append(who, text);
    $('transcript').append(el);
    const entry = { role, agent: role === 'user' ? 'You' : agent || agentName, text: '' };
    debug.transcript.push(entry);
    t = { el, entry, text };
    turns.set(itemId, t);
  }
  return t;
}

function note(text) {
  const p = document.createElement('div');
  p.className = 'note';
  p.textContent = text;
  $('activity').prepend(p);
}

function send(obj) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
}

function onAudio(buf) {
  const bytes = new Uint8Array(buf);
  const n = bytes[0];
  const id = new TextDecoder().decode(bytes.subarray(1, 1 + n));
  const pcm = buf.slice(1 + n);
  if (player) player.port.postMessage({ id, pcm }, [pcm]);
}

function onMessage(m) {
  switch (m.type) {
    case 'ready':
      agentName = m.agent;
      setState('live', 'Connected');
      break;
    case 'speaking':
      agentName = m.agent;
      $('speaking').textContent = `${m.agent} is speaking`;
      break;
    case 'transcript': {
      const t = turn(m.item_id, m.role, m.agent);
      if (m.final) t.entry.text = m.text;
      else t.entry.text += m.text;
      t.text.textContent = t.entry.text;
      break;
    }
    case 'tool_start':
      note(`${m.agent} uses ${m.tool}(${m.arguments})`);
      break;
    case 'tool_end':
      note(`${m.tool} → ${m.output}`);
      break;
    case 'handoff':
      note(`${m.from} hands over to ${m.to}`);
      agentName = m.to;
      break;
    case 'interrupted': {
      if (player) player.port.postMessage({ clear: true });
      debug.interruptions += 1;
      debug.lastInterruption = {
        itemId: m.item_id,
        audioEndMs: m.audio_end_ms,
        playedMs: playedByItem.get(m.item_id) || 0,
      };
      const t = turns.get(m.item_id);
      if (t) t.el.classList.add('interrupted');
      $('speaking').textContent = '';
      break;
    }
    case 'error':
      debug.errors.push(m.message);
      note(`Error: ${m.message}`);
      if (m.code === 'too_many_sessions') setState('error', 'Busy, try again later');
      break;
    case 'closed':
      setState('closed', 'Disconnected');
      break;
    default:
      break; // newer messages of protocol v1
  }
}

function onPlayback(e) {
  let total = 0;
  for (const { id, ms } of e.data.items) {
    playedByItem.set(id, ms);
    debug.items[id] = ms;
    total += ms;
    if ((reported.get(id) || 0) < ms) {
      reported.set(id, ms);
      send({ type: 'played', item_id: id, ms });
    }
  }
  debug.playedMs = Math.max(debug.playedMs, total);
}

async function start() {
  $('start').disabled = true;
  setState('connecting', 'Connecting…');
  try {
    ctx = new AudioContext();
    const audioState = () => (debug.audio = { state: ctx ? ctx.state : 'closed', sampleRate: ctx ? ctx.sampleRate : 0 });
    ctx.onstatechange = audioState;
    audioState();
    await ctx.audioWorklet.addModule('/worklets.js');
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    const mic = ctx.createMediaStreamSource(stream);
    capture = new AudioWorkletNode(ctx, 'capture');
    const sink = ctx.createGain();
    sink.gain.value = 0;
    mic.connect(capture).connect(sink).connect(ctx.destination);
    player = new AudioWorkletNode(ctx, 'playback', { outputChannelCount: [2] });
    player.connect(ctx.destination);
    player.port.onmessage = onPlayback;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(`${proto}//${location.host}/ws`);
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (e) => (typeof e.data === 'string' ? onMessage(JSON.parse(e.data)) : onAudio(e.data));
    ws.onclose = () => {
      if (debug.state !== 'error') setState('closed', 'Disconnected');
      stop(false);
    };
    ws.onerror = () => setState('error', 'Connection failed');
    capture.port.onmessage = (e) => {
      if (!ws || ws.readyState !== WebSocket.OPEN || muted) return;
      if (pushToTalk && !talking) return;
      ws.send(e.data);
      debug.micMsSent += e.data.byteLength / 48;
    };
    await ctx.resume();
    for (const id of ['stop', 'mute', 'ptt-mode']) $(id).disabled = false;
  } catch (err) {
    debug.errors.push(String(err));
    setState('error', `Could not start: ${err.message || err}`);
    $('start').disabled = false;
  }
}

function stop(closeSocket = true) {
  if (closeSocket && ws) ws.close();
  ws = null;
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  if (ctx) ctx.close();
  ctx = null;
  capture = player = null;
  $('start').disabled = false;
  for (const id of ['stop', 'mute', 'ptt-mode', 'talk']) $(id).disabled = true;
  if (debug.state === 'live' || debug.state === 'connecting') setState('closed', 'Disconnected');
}

$('start').addEventListener('click', start);
$('stop').addEventListener('click', () => stop(true));
$('mute').addEventListener('click', () => {
  muted = !muted;
  $('mute').setAttribute('aria-pressed', String(muted));
  $('mute').textContent = muted ? 'Unmute' : 'Mute';
});
$('ptt-mode').addEventListener('click', () => {
  pushToTalk = !pushToTalk;
  $('ptt-mode').setAttribute('aria-pressed', String(pushToTalk));
  $('talk').hidden = !pushToTalk;
  $('talk').disabled = !pushToTalk;
  send({ type: 'push_to_talk', on: pushToTalk });
});
const talkStart = () => {
  if (!pushToTalk || talking) return;
  talking = true;
  send({ type: 'interrupt' });
  $('talk').setAttribute('aria-pressed', 'true');
};
const talkEnd = () => {
  if (!talking) return;
  talking = false;
  $('talk').setAttribute('aria-pressed', 'false');
  send({ type: 'commit' });
};
$('talk').addEventListener('pointerdown', talkStart);
$('talk').addEventListener('pointerup', talkEnd);
$('talk').addEventListener('keydown', (e) => (e.key === ' ' || e.key === 'Enter') && !e.repeat && talkStart());
$('talk').addEventListener('keyup', (e) => (e.key === ' ' || e.key === 'Enter') && talkEnd());
