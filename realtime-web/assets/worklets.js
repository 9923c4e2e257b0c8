// Audio worklets of the voice page: microphone capture to 24 kHz PCM16 (any device rate) and
// playback of 24 kHz PCM16 with a small jitter buffer, reporting how much of each item played.

const RATE = 24000;

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / RATE; // input samples per output sample
    this.t = 0;                    // read position in the current block (may be negative: -1 = last sample of the previous block)
    this.prev = 0;
    this.lp = 0;                   // one-pole low-pass state against aliasing when downsampling
    this.alpha = Math.min(1, (2 * Math.PI * 10000) / sampleRate);
    this.out = new Int16Array(480); // 20 ms
    this.n = 0;
  }
  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    const x = new Float32Array(input.length);
    for (let i = 0; i < input.length; i++) {
      this.lp += this.alpha * (input[i] - this.lp);
      x[i] = this.step > 1 ? this.lp : input[i];
    }
    const at = (i) => (i < 0 ? this.prev : x[i]);
    while (this.t < x.length - 1) {
      const i = Math.floor(this.t);
      const f = this.t - i;
      const s = at(i) * (1 - f) + at(i + 1) * f;
      this.out[this.n++] = Math.max(-32768, Math.min(32767, Math.round(s * 32767)));
      if (this.n === this.out.length) {
        this.port.postMessage(this.out.buffer, [this.out.buffer]);
        this.out = new Int16Array(480);
        this.n = 0;
      }
      this.t += this.step;
    }
    this.t -= x.length;
    this.prev = x[x.length - 1];
    return true;
  }
}

class Playback extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = RATE / sampleRate; // source samples per output sample
    this.queue = [];               // [{ id, pcm: Float32Array }]
    this.pos = 0;                  // position in queue[0].pcm
    this.played = new Map();       // id -> source samples played
    this.buffering = true;
    this.lastReport = 0;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.clear) {
        this.queue = [];
        this.pos = 0;
        this.buffering = true;
        this.report(true);
        return;
      }
      const pcm16 = new Int16Array(m.pcm);
      const f = new Float32Array(pcm16.length);
      for (let i = 0; i < f.length; i++) f[i] = pcm16[i] / 32768;
      this.queue.push({ id: m.id, pcm: f });
      if (!this.played.has(m.id)) {
        this.played.set(m.id, 0);
        while (this.played.size > 8) this.played.delete(this.played.keys().next().value);
      }
    };
  }
  queuedSamples() {
    let n = -this.pos;
    for (const c of this.queue) n += c.pcm.length;
    return n;
  }
  report(force) {
    if (!force && currentTime - this.lastReport < 0.04) return;
    this.lastReport = currentTime;
    const items = [];
    for (const [id, n] of this.played) items.push({ id, ms: (n / RATE) * 1000 });
    this.port.postMessage({ items, queuedMs: (this.queuedSamples() / RATE) * 1000 });
  }
  process(_inputs, outputs) {
    const out = outputs[0][0];
    // Jitter buffer: start (or restart after running dry) once 60 ms are queued.
    if (this.buffering && this.queuedSamples() >= RATE * 0.06) this.buffering = false;
    for (let i = 0; i < out.length; i++) {
      if (this.buffering || this.queue.length === 0) {
        out[i] = 0;
        continue;
      }
      const c = this.queue[0];
      const k = Math.floor(this.pos);
      const f = this.pos - k;
      const a = c.pcm[k];
      const b = k + 1 < c.pcm.length ? c.pcm[k + 1] : a;
      out[i] = a * (1 - f) + b * f;
      const before = Math.floor(this.pos);
      this.pos += this.step;
      this.played.set(c.id, (this.played.get(c.id) || 0) + (Math.floor(this.pos) - before));
      if (this.pos >= c.pcm.length) {
        this.pos -= c.pcm.length;
        this.queue.shift();
        if (this.queue.length === 0) this.buffering = true;
      }
    }
    for (let ch = 1; ch < outputs[0].length; ch++) outputs[0][ch].set(out);
    this.report(false);
    return true;
  }
}

registerProcessor('capture', Capture);
registerProcessor('playback', Playback);
