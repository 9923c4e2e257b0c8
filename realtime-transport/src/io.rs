//! The socket of one connection, shared by its sender and its receiver under one short lock.
//!
//! There is no task between the socket and the application:
//! - a frame is read and handed over on the task that polls the [`crate::EventReceiver`];
//! - an event is written on the task that sends it, when the socket takes it at once.
//!
//! A small task per connection, the *driver*, does what no caller can wait for:
//! - it finishes writes the socket could not take at once (they wait in a bounded queue);
//! - it pings, and judges the pongs;
//! - it runs the close handshake.
//!
//! In the common case (the socket is writable, nothing queued) the driver is never woken.
//!
//! A frame may also be *fed*: encoded into the socket's write buffer without a system call,
//! to go out with the next flush. A task that makes several writes in one burst feeds them and
//! flushes once, so they leave in one segment (the session loop flushes whenever it is about
//! to wait). Any write that flushes, and every run of the driver, takes fed frames along.
//!
//! Keep-alive judges the connection, not the application. The receiver's consumer reads the
//! socket, so a pong waits behind every frame the consumer has not read yet. The pong deadline
//! therefore only runs while the consumer waits on the receiver. While the consumer is busy
//! or stalled, the deadline pauses, and the server gets a full window once reading resumes: a
//! stalled application is not a dead server.

use crate::error::TransportError;
use futures_util::{Sink, Stream};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{oneshot, Notify};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A byte stream the WebSocket runs over: TCP, a proxy's tunnel, or a caller's stream.
pub(crate) trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// The WebSocket over any byte stream (one type, so the receiver is not generic over it).
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<Box<dyn ByteStream>>>;

/// What the driver needs to know.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) send_queue: usize,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) pong_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) max_message_size: usize,
}

/// How far the connection has come.
enum End {
    Open,
    /// Ended normally: the receiver's stream ends.
    Closed,
    /// Ended abnormally: the receiver yields the error once (taken), then ends.
    Failed(Option<TransportError>),
}

/// The close handshake, once asked for.
struct Closing {
    code: u16,
    reason: String,
    /// When the close was asked for: the queued frames, the close frame and the peer's close
    /// frame all fit in the close timeout from here, or the socket is dropped.
    requested: Instant,
    /// Whether the close frame went out (and the wait for the peer's began).
    sent: bool,
}

struct State {
    /// The socket; `None` once the connection has ended (dropping it closes the socket).
    ws: Option<Ws>,
    /// Frames the socket could not take at once, in order (bounded by `send_queue`, plus
    /// pings). Nothing is written directly while this is not empty.
    queue: VecDeque<Message>,
    end: End,
    closing: Option<Closing>,
    close_waiters: Vec<oneshot::Sender<()>>,
    driver: Option<Waker>,
    reader: Option<Waker>,
    /// The consumer waits on the receiver (its last poll found nothing to read).
    reader_waiting: bool,
    /// A ping is out; the connection fails when nothing arrives by then (paused while the
    /// consumer is not waiting).
    pong_due: Option<Instant>,
}

/// The shared socket of one connection.
pub(crate) struct Core {
    state: Mutex<State>,
    /// Signalled when queued frames leave the queue or the connection ends.
    room: Notify,
    /// Frames were fed into the socket's write buffer and not flushed yet. Changed under the
    /// state's lock; read without it, so that a flush with nothing to do takes no lock.
    unflushed: AtomicBool,
    limits: Limits,
}

/// What became of a frame handed to [`Core::write`].
pub(crate) enum Write {
    /// Written, or queued for the driver.
    Accepted,
    /// The queue is full; the frame is handed back.
    Full(Message),
    /// The connection is closed or closing; the frame is handed back.
    Closed(Message),
}

fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl State {
    fn is_open(&self) -> bool {
        matches!(self.end, End::Open)
    }

    /// Ends the connection: drops the socket and wakes everyone who waits on it.
    fn finish(&mut self, end: End) {
        if !self.is_open() {
            return;
        }
        match &end {
            End::Failed(Some(e)) => tracing::debug!(error = %e, "connection failed"),
            _ => tracing::debug!("connection closed"),
        }
        self.end = end;
        if let Some(mut ws) = self.ws.take() {
            // A reply owed to the peer (its close frame, a pong) goes out if the socket takes
            // it now; the socket is closed either way.
            let mut cx = Context::from_waker(Waker::noop());
            let _ = Pin::new(&mut ws).poll_flush(&mut cx);
        }
        self.queue.clear();
        self.closing = None;
        for w in self.close_waiters.drain(..) {
            let _ = w.send(());
        }
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        if let Some(w) = self.driver.take() {
            w.wake();
        }
    }

    fn fail(&mut self, e: TransportError) {
        self.finish(End::Failed(Some(e)));
    }

    /// Writes queued frames while the socket takes them, then flushes (fed frames too). `Err`
    /// fails the connection (done by the caller). Returns whether frames left the queue.
    fn drain(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        unflushed: &AtomicBool,
    ) -> Result<bool, TransportError> {
        let Some(ws) = self.ws.as_mut() else {
            return Ok(false);
        };
        let mut moved = false;
        while !self.queue.is_empty() {
            match Pin::new(&mut *ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(socket_error(e, max)),
                Poll::Pending => return Ok(moved),
            }
            if let Some(m) = self.queue.pop_front() {
                Pin::new(&mut *ws)
                    .start_send(m)
                    .map_err(|e| socket_error(e, max))?;
                moved = true;
            }
        }
        flush_ws(ws, unflushed, cx, max)
            .map(|()| moved)
            .map_err(|(e, _)| e)
    }
}

impl Core {
    pub(crate) fn new(ws: Ws, limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                ws: Some(ws),
                queue: VecDeque::new(),
                end: End::Open,
                closing: None,
                close_waiters: Vec::new(),
                driver: None,
                reader: None,
                reader_waiting: false,
                pong_due: None,
            }),
            room: Notify::new(),
            unflushed: AtomicBool::new(false),
            limits,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-changed in a way that
        // matters more than losing the connection; carry on with it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn finished(&self, st: MutexGuard<'_, State>) {
        drop(st);
        self.room.notify_waiters();
    }

    /// Whether the connection has ended or is closing.
    pub(crate) fn is_closed(&self) -> bool {
        let st = self.lock();
        !st.is_open() || st.closing.is_some()
    }

    /// Writes a frame on the caller's task: straight to the socket when nothing is queued
    /// and the socket takes it, else into the queue for the driver (when there is room).
    /// With `flush` false the frame is only fed into the socket's write buffer: it goes out
    /// with the next flush (see [`Self::flush`]).
    pub(crate) fn write(&self, m: Message, flush: bool) -> Write {
        let mut guard = self.lock();
        let st = &mut *guard;
        if !st.is_open() || st.closing.is_some() {
            return Write::Closed(m);
        }
        if !st.queue.is_empty() {
            if st.queue.len() >= self.limits.send_queue {
                return Write::Full(m);
            }
            st.queue.push_back(m);
            return Write::Accepted;
        }
        let Some(ws) = st.ws.as_mut() else {
            return Write::Closed(m);
        };
        // The driver is woken when a write left pending can go on (before its first poll,
        // nobody is: that poll flushes anyway).
        let mut cx = Context::from_waker(st.driver.as_ref().unwrap_or(Waker::noop()));
        let max = self.limits.max_message_size;
        let result = match Pin::new(&mut *ws).poll_ready(&mut cx) {
            Poll::Pending => {
                st.queue.push_back(m);
                if let Some(w) = &st.driver {
                    w.wake_by_ref();
                }
                return Write::Accepted;
            }
            Poll::Ready(Err(e)) => Err((socket_error(e, max), Some(m))),
            Poll::Ready(Ok(())) => match Pin::new(&mut *ws).start_send(m) {
                Err(e) => Err((socket_error(e, max), None)),
                Ok(()) if !flush => {
                    self.unflushed.store(true, Ordering::Release);
                    Ok(())
                }
                Ok(()) => flush_ws(ws, &self.unflushed, &mut cx, max),
            },
        };
        self.after_write(guard, result)
    }

    /// Sends the frames fed so far. Without fed frames, no lock is taken. What the socket
    /// cannot take at once stays buffered, and the driver finishes it.
    pub(crate) fn flush(&self) {
        if !self.unflushed.load(Ordering::Acquire) {
            return;
        }
        let mut guard = self.lock();
        let st = &mut *guard;
        if !st.is_open() {
            // Nothing will go out any more.
            self.unflushed.store(false, Ordering::Release);
            return;
        }
        // Flushed meanwhile, by the driver or by another task's write.
        if !self.unflushed.load(Ordering::Acquire) {
            return;
        }
        let Some(ws) = st.ws.as_mut() else {
            return;
        };
        let mut cx = Context::from_waker(st.driver.as_ref().unwrap_or(Waker::noop()));
        let result = flush_ws(ws, &self.unflushed, &mut cx, self.limits.max_message_size);
        let _ = self.after_write(guard, result);
    }

    /// What a write came to: a socket failure ends the connection here.
    fn after_write(
        &self,
        mut guard: MutexGuard<'_, State>,
        result: Result<(), (TransportError, Option<Message>)>,
    ) -> Write {
        match result {
            Ok(()) => Write::Accepted,
            Err((e, unsent)) => {
                guard.fail(e);
                self.finished(guard);
                match unsent {
                    Some(m) => Write::Closed(m),
                    // Handed to the socket before it failed: the failure is the receiver's
                    // to report.
                    None => Write::Accepted,
                }
            }
        }
    }

    /// Waits until the queue may have room (call [`Self::write`] again), or the connection
    /// ended. Enable the returned future before writing, so no signal is missed.
    pub(crate) fn room(&self) -> tokio::sync::futures::Notified<'_> {
        self.room.notified()
    }

    /// Asks for the close handshake (after the frames already queued); the receiver resolves
    /// when it is over. `None` when the connection has already ended.
    pub(crate) fn close(&self, code: u16, reason: &str) -> Option<oneshot::Receiver<()>> {
        let mut st = self.lock();
        if !st.is_open() {
            return None;
        }
        if st.closing.is_none() {
            st.closing = Some(Closing {
                code,
                reason: reason.to_owned(),
                requested: Instant::now(),
                sent: false,
            });
        }
        let (tx, rx) = oneshot::channel();
        st.close_waiters.push(tx);
        if let Some(w) = &st.driver {
            w.wake_by_ref();
        }
        Some(rx)
    }

    /// Ends the connection at once (the receiver was dropped): the socket is dropped.
    pub(crate) fn abandon(&self) {
        let mut st = self.lock();
        st.finish(End::Closed);
        self.finished(st);
    }

    /// Reads the next frame on the caller's task.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Utf8Bytes, TransportError>>> {
        let mut st = self.lock();
        loop {
            match &mut st.end {
                End::Open => {}
                End::Closed => return Poll::Ready(None),
                End::Failed(e) => return Poll::Ready(e.take().map(Err)),
            }
            if st.closing.is_some() {
                // The driver reads until the peer's close frame; the stream then ends.
                set_waker(&mut st.reader, cx);
                return Poll::Pending;
            }
            let Some(ws) = st.ws.as_mut() else {
                return Poll::Ready(None);
            };
            let frame = match Pin::new(ws).poll_next(cx) {
                Poll::Pending => {
                    st.reader_waiting = true;
                    set_waker(&mut st.reader, cx);
                    return Poll::Pending;
                }
                Poll::Ready(frame) => frame,
            };
            st.reader_waiting = false;
            // Any frame proves the peer is alive.
            st.pong_due = None;
            match frame {
                Some(Ok(Message::Text(t))) => {
                    tracing::trace!(bytes = t.len(), "receive");
                    return Poll::Ready(Some(Ok(t)));
                }
                Some(Ok(Message::Binary(b))) => {
                    return Poll::Ready(Some(Err(TransportError::BinaryFrame { len: b.len() })));
                }
                Some(Ok(Message::Close(frame))) => {
                    let end = match frame {
                        Some(f) if u16::from(f.code) != 1000 => {
                            End::Failed(Some(TransportError::Closed {
                                code: u16::from(f.code),
                                reason: f.reason.to_string(),
                            }))
                        }
                        _ => End::Closed,
                    };
                    st.finish(end);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => st.fail(socket_error(e, self.limits.max_message_size)),
                None => st.fail(TransportError::ConnectionLost(
                    tungstenite::Error::ConnectionClosed,
                )),
            }
            if !st.is_open() {
                // Release the lock before waking senders waiting for room.
                drop(st);
                self.room.notify_waiters();
                st = self.lock();
            }
        }
    }

    /// The driver: finishes queued writes, pings, runs the close handshake. Ends with the
    /// connection.
    pub(crate) async fn drive(self: Arc<Self>) {
        let mut driver = Driver {
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            next_ping: self.limits.ping_interval.map(|i| Instant::now() + i),
        };
        std::future::poll_fn(|cx| self.poll_drive(cx, &mut driver)).await;
    }

    fn poll_drive(&self, cx: &mut Context<'_>, d: &mut Driver) -> Poll<()> {
        let mut st = self.lock();
        set_waker(&mut st.driver, cx);
        loop {
            if !st.is_open() {
                st.driver = None;
                self.finished(st);
                return Poll::Ready(());
            }
            let max = self.limits.max_message_size;
            match st.drain(cx, max, &self.unflushed) {
                Ok(true) => {
                    drop(st);
                    self.room.notify_waiters();
                    st = self.lock();
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    st.fail(e);
                    continue;
                }
            }
            let now = Instant::now();
            let wake_at = if st.closing.is_some() {
                match self.poll_closing(&mut st, cx, now) {
                    Some(at) => at,
                    None => continue,
                }
            } else {
                match self.keep_alive(&mut st, d, now) {
                    KeepAlive::Wait(at) => at,
                    KeepAlive::Again => continue,
                }
            };
            let Some(at) = wake_at else {
                return Poll::Pending;
            };
            if d.timer.deadline() != at {
                d.timer.as_mut().reset(at);
            }
            if d.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// One step of the close handshake: the close frame out (after the queue), then the
    /// peer's close frame in, bounded by the close timeout. `None`: the state changed, look
    /// again; `Some(at)`: wait (for the socket, or until `at`).
    fn poll_closing(
        &self,
        st: &mut State,
        cx: &mut Context<'_>,
        now: Instant,
    ) -> Option<Option<Instant>> {
        let limits = self.limits;
        let closing = st.closing.as_mut()?;
        let deadline = closing.requested + limits.close_timeout;
        if now >= deadline {
            tracing::debug!(after = ?limits.close_timeout, "close handshake timed out");
            st.finish(End::Closed);
            return None;
        }
        if !st.queue.is_empty() {
            // The queued frames go first; the socket wakes us.
            return Some(Some(deadline));
        }
        if !closing.sent {
            let frame = CloseFrame {
                code: CloseCode::from(closing.code),
                reason: std::mem::take(&mut closing.reason).into(),
            };
            closing.sent = true;
            st.queue.push_back(Message::Close(Some(frame)));
            return None;
        }
        let ws = st.ws.as_mut()?;
        loop {
            match Pin::new(&mut *ws).poll_next(cx) {
                Poll::Pending => return Some(Some(deadline)),
                Poll::Ready(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => {
                    st.finish(End::Closed);
                    return None;
                }
                // Frames after our close are not read by anyone.
                Poll::Ready(Some(Ok(_))) => {}
            }
        }
    }

    fn keep_alive(&self, st: &mut State, d: &mut Driver, now: Instant) -> KeepAlive {
        let Some(interval) = self.limits.ping_interval else {
            return KeepAlive::Wait(None);
        };
        let pong_timeout = self.limits.pong_timeout;
        if let Some(due) = st.pong_due {
            if now < due {
                return KeepAlive::Wait(Some(due));
            }
            if st.reader_waiting {
                st.fail(TransportError::KeepAliveTimeout {
                    after: pong_timeout,
                });
                return KeepAlive::Again;
            }
            // The consumer is not reading, so the pong may sit behind unread frames: the
            // deadline pauses, and starts over in full.
            st.pong_due = Some(now + pong_timeout);
            return KeepAlive::Wait(st.pong_due);
        }
        let next = *d.next_ping.get_or_insert(now + interval);
        if now < next {
            return KeepAlive::Wait(Some(next));
        }
        d.next_ping = Some(now + interval);
        if st.reader_waiting {
            tracing::trace!("ping");
            st.queue
                .push_back(Message::Ping(Vec::from(*b"realtime-rs").into()));
            st.pong_due = Some(now + pong_timeout);
        }
        KeepAlive::Again
    }
}

struct Driver {
    timer: Pin<Box<Sleep>>,
    next_ping: Option<Instant>,
}

enum KeepAlive {
    Wait(Option<Instant>),
    Again,
}

/// Flushes the socket's write buffer. Pending leaves the rest to the driver, which the socket
/// wakes.
fn flush_ws(
    ws: &mut Ws,
    unflushed: &AtomicBool,
    cx: &mut Context<'_>,
    max: usize,
) -> Result<(), (TransportError, Option<Message>)> {
    match Pin::new(ws).poll_flush(cx) {
        Poll::Ready(Err(e)) => Err((socket_error(e, max), None)),
        Poll::Ready(Ok(())) => {
            unflushed.store(false, Ordering::Release);
            Ok(())
        }
        Poll::Pending => Ok(()),
    }
}

pub(crate) fn socket_error(e: tungstenite::Error, max: usize) -> TransportError {
    match e {
        tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            TransportError::FrameTooLarge {
                size,
                max: max_size,
            }
        }
        tungstenite::Error::Capacity(_) => TransportError::FrameTooLarge { size: 0, max },
        e @ (tungstenite::Error::Io(_)
        | tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        )) => TransportError::ConnectionLost(e),
        e => TransportError::Protocol(e),
    }
}
