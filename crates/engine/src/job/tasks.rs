//! The tasks: a source task (source, watermarks, chain, exchange) and an operator task
//! (inputs with barrier alignment, chain, exchange).

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::protocol::{Ack, FINAL_CHECKPOINT, TaskContext, Trigger};
use crate::error::Result;
use crate::exchange::ExchangeSender;
use crate::message::{EventTime, Message, Watermark};
use crate::metrics::TaskMetrics;
use crate::operator::{Chain, Emitted, Output};
use crate::source::{Source, SourcePoll};
use crate::state_codec::{StateReader, StateWriter};
use crate::time::{InputWatermarks, PartitionWatermarks, WatermarkStrategy};
use crate::window::rowtime_values;

fn encode_chain_states(states: Vec<Vec<u8>>) -> Vec<u8> {
    let mut w = StateWriter::new();
    w.u64(states.len() as u64);
    for s in &states {
        w.bytes(s);
    }
    w.finish()
}

pub(super) fn decode_chain_states(
    state: Option<&[u8]>,
    task: &str,
) -> Result<Option<Vec<Vec<u8>>>> {
    let Some(state) = state else { return Ok(None) };
    let mut r = StateReader::new(state, task);
    let n = r.u64()?;
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        out.push(r.bytes()?.to_vec());
    }
    Ok(Some(out))
}

/// Sends what a chain emitted into the exchange.
async fn flush(
    out: &mut Output,
    exchange: &mut ExchangeSender,
    metrics: &TaskMetrics,
) -> Result<()> {
    for item in out.take() {
        match item {
            Emitted::Data(b) => {
                TaskMetrics::add(&metrics.rows_out, b.num_rows() as u64);
                exchange.send_batch(b).await?
            }
            Emitted::Watermark(w) => {
                exchange
                    .broadcast(Message::Watermark(Watermark::EventTime(w)))
                    .await?
            }
        }
    }
    Ok(())
}

pub(super) struct SourceTask {
    pub(super) source: Box<dyn Source>,
    pub(super) chain: Chain,
    pub(super) exchange: ExchangeSender,
    pub(super) watermarks: Option<WatermarkStrategy>,
    pub(super) triggers: mpsc::UnboundedReceiver<Trigger>,
    pub(super) idle_poll: Duration,
}

impl SourceTask {
    pub(super) async fn run(mut self, mut ctx: TaskContext) -> Result<()> {
        let metrics = Arc::clone(&ctx.info.metrics);
        match ctx.restored.take() {
            Some(state) => {
                let mut r = StateReader::new(&state, &ctx.info.name);
                self.source.restore(Some(r.bytes()?))?;
                let chain = decode_chain_states(Some(r.bytes()?), &ctx.info.name)?;
                self.chain.restore(chain.as_deref())?;
            }
            None => {
                self.source.restore(None)?;
                self.chain.restore(None)?;
            }
        }
        let partitions = self.source.partitions().len();
        let mut wm = self.watermarks.as_ref().map(|w| {
            PartitionWatermarks::new(partitions, w.max_out_of_orderness_ms, w.idle_timeout)
        });
        let mut out = Output::default();
        let mut last_completed = ctx.completed.borrow().checkpoint;
        let tick = self.chain.tick_interval();
        let mut next_tick = tick.map(|t| Instant::now() + t);
        let mut idle_sent = false;
        loop {
            while let Ok(Trigger {
                checkpoint: id,
                stop,
            }) = self.triggers.try_recv()
            {
                let mut w = StateWriter::new();
                w.bytes(&self.source.snapshot(id)?);
                w.bytes(&encode_chain_states(self.chain.snapshot(id)?));
                self.exchange.broadcast(Message::Barrier(id)).await?;
                ctx.ack(Ack::State {
                    checkpoint: id,
                    task: ctx.index,
                    state: w.finish(),
                })?;
                if stop {
                    // Nothing more is read: the job stops at this checkpoint.
                    let (source, chain) = (&mut self.source, &mut self.chain);
                    return ctx
                        .stop_at(id, |id| {
                            source.checkpoint_complete(id)?;
                            chain.checkpoint_complete(id)
                        })
                        .await;
                }
            }
            let completed = *ctx.completed.borrow();
            if completed.checkpoint > last_completed {
                last_completed = completed.checkpoint;
                self.source.checkpoint_complete(last_completed)?;
                self.chain.checkpoint_complete(last_completed)?;
            }
            if let (Some(t), Some(at)) = (tick, next_tick)
                && Instant::now() >= at
            {
                self.chain.tick(&mut out)?;
                flush(&mut out, &mut self.exchange, &metrics).await?;
                next_tick = Some(Instant::now() + t);
            }
            let now = Instant::now();
            match self.source.poll()? {
                SourcePoll::Batch { partition, batch } => {
                    TaskMetrics::add(&metrics.rows_in, batch.num_rows() as u64);
                    if let (Some(generator), Some(strategy)) = (wm.as_mut(), &self.watermarks) {
                        let times = rowtime_values(&batch, strategy.rowtime_column)?;
                        generator.observe(partition, times.iter().max().copied(), now);
                        // Active again after reporting idleness: hold the downstream minimum
                        // at this input's watermark again from now on.
                        if idle_sent && let Some(current) = generator.current() {
                            self.exchange
                                .broadcast(Message::Watermark(Watermark::EventTime(current)))
                                .await?;
                        }
                    }
                    self.chain.push_batch(batch, &mut out)?;
                    flush(&mut out, &mut self.exchange, &metrics).await?;
                    idle_sent = false;
                }
                SourcePoll::Watermark(t) => {
                    metrics
                        .watermark
                        .store(t, std::sync::atomic::Ordering::Relaxed);
                    self.chain.push_watermark(t, &mut out)?;
                    flush(&mut out, &mut self.exchange, &metrics).await?;
                }
                SourcePoll::Idle => {
                    self.emit_watermark(wm.as_mut(), &mut out, &metrics, &mut idle_sent)
                        .await?;
                    tokio::time::sleep(self.idle_poll).await;
                    continue;
                }
                SourcePoll::PartitionFinished(p) => {
                    if let Some(generator) = wm.as_mut() {
                        generator.finish(p);
                    }
                }
                SourcePoll::Finished => break,
            }
            self.emit_watermark(wm.as_mut(), &mut out, &metrics, &mut idle_sent)
                .await?;
        }
        // Bounded input exhausted: the final watermark fires every open window.
        self.chain.push_watermark(EventTime::MAX, &mut out)?;
        self.chain.finish(&mut out)?;
        flush(&mut out, &mut self.exchange, &metrics).await?;
        self.exchange.broadcast(Message::End).await?;
        let mut w = StateWriter::new();
        w.bytes(&self.source.snapshot(FINAL_CHECKPOINT)?);
        w.bytes(&encode_chain_states(self.chain.snapshot(FINAL_CHECKPOINT)?));
        ctx.ack(Ack::Finished {
            task: ctx.index,
            state: w.finish(),
        })?;
        let (source, chain) = (&mut self.source, &mut self.chain);
        ctx.await_final(|id| {
            source.checkpoint_complete(id)?;
            chain.checkpoint_complete(id)
        })
        .await
    }

    async fn emit_watermark(
        &mut self,
        generator: Option<&mut PartitionWatermarks>,
        out: &mut Output,
        metrics: &TaskMetrics,
        idle_sent: &mut bool,
    ) -> Result<()> {
        let Some(generator) = generator else {
            return Ok(());
        };
        match generator.advance(Instant::now()) {
            Some(Watermark::EventTime(t)) => {
                metrics
                    .watermark
                    .store(t, std::sync::atomic::Ordering::Relaxed);
                self.chain.push_watermark(t, out)?;
                flush(out, &mut self.exchange, metrics).await?;
                *idle_sent = false;
            }
            Some(Watermark::Idle) if !*idle_sent => {
                self.chain.push_idle()?;
                self.exchange
                    .broadcast(Message::Watermark(Watermark::Idle))
                    .await?;
                *idle_sent = true;
            }
            _ => {}
        }
        Ok(())
    }
}

pub(super) struct OperatorTask {
    pub(super) inputs: Vec<mpsc::Receiver<Message>>,
    /// Per receiver: the input of the chain's first operator its batches go to.
    pub(super) input_of: Vec<usize>,
    pub(super) chain: Chain,
    pub(super) exchange: ExchangeSender,
}

impl OperatorTask {
    pub(super) async fn run(mut self, mut ctx: TaskContext) -> Result<()> {
        let metrics = Arc::clone(&ctx.info.metrics);
        let restored = decode_chain_states(ctx.restored.take().as_deref(), &ctx.info.name)?;
        self.chain.restore(restored.as_deref())?;
        let n = self.inputs.len();
        let mut blocked = vec![false; n];
        let mut ended = vec![false; n];
        let mut aligning: Option<u64> = None;
        let mut wms = InputWatermarks::new(n);
        let mut out = Output::default();
        let mut completed_rx = ctx.completed.clone();
        let mut last_completed = completed_rx.borrow().checkpoint;
        let tick = self.chain.tick_interval();
        let mut ticker = tick.map(|t| {
            let mut i = tokio::time::interval(t);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        let mut rr = 0usize;
        let mut idle_sent = false;
        loop {
            if ended.iter().all(|e| *e) {
                break;
            }
            let next = tokio::select! {
                m = next_message(&mut self.inputs, &blocked, &ended, &mut rr) => Some(m),
                _ = async { ticker.as_mut().expect("guarded").tick().await }, if ticker.is_some() => {
                    self.chain.tick(&mut out)?;
                    flush(&mut out, &mut self.exchange, &metrics).await?;
                    None
                }
                changed = completed_rx.changed() => {
                    if changed.is_ok() {
                        let c = *completed_rx.borrow();
                        if c.checkpoint > last_completed && !c.is_final {
                            last_completed = c.checkpoint;
                            if c.stop {
                                let chain = &mut self.chain;
                                return ctx.stop_at(c.checkpoint, |id| chain.checkpoint_complete(id)).await;
                            }
                            self.chain.checkpoint_complete(c.checkpoint)?;
                        }
                    }
                    None
                }
            };
            let Some((i, msg)) = next else { continue };
            match msg {
                Message::Data(batch) => {
                    TaskMetrics::add(&metrics.rows_in, batch.num_rows() as u64);
                    self.chain
                        .push_batch_from(self.input_of[i], batch, &mut out)?;
                    flush(&mut out, &mut self.exchange, &metrics).await?;
                }
                Message::Watermark(w) => {
                    self.on_watermark(i, w, &mut wms, &mut idle_sent, &mut out, &metrics)
                        .await?;
                }
                Message::Barrier(id) => {
                    blocked[i] = true;
                    aligning = Some(id);
                }
                Message::End => {
                    ended[i] = true;
                    // An ended input no longer holds the minimum back, which may advance it.
                    if !ended.iter().all(|e| *e) {
                        self.on_watermark(
                            i,
                            Watermark::Idle,
                            &mut wms,
                            &mut idle_sent,
                            &mut out,
                            &metrics,
                        )
                        .await?;
                    }
                }
            }
            if let Some(id) = aligning
                && (0..n).all(|j| blocked[j] || ended[j])
            {
                let state = encode_chain_states(self.chain.snapshot(id)?);
                self.exchange.broadcast(Message::Barrier(id)).await?;
                ctx.ack(Ack::State {
                    checkpoint: id,
                    task: ctx.index,
                    state,
                })?;
                blocked.iter_mut().for_each(|b| *b = false);
                aligning = None;
            }
        }
        self.chain.finish(&mut out)?;
        flush(&mut out, &mut self.exchange, &metrics).await?;
        self.exchange.broadcast(Message::End).await?;
        let state = encode_chain_states(self.chain.snapshot(FINAL_CHECKPOINT)?);
        ctx.ack(Ack::Finished {
            task: ctx.index,
            state,
        })?;
        let chain = &mut self.chain;
        ctx.await_final(|id| chain.checkpoint_complete(id)).await
    }
}

impl OperatorTask {
    /// Takes a watermark (or idleness) from input `i`: pushes the combined watermark through
    /// the chain when it advances, reports idleness once all inputs are idle, and re-announces
    /// the current watermark when an input turns active after idleness was reported.
    async fn on_watermark(
        &mut self,
        i: usize,
        w: Watermark,
        wms: &mut InputWatermarks,
        idle_sent: &mut bool,
        out: &mut Output,
        metrics: &TaskMetrics,
    ) -> Result<()> {
        if let Some(t) = wms.update(i, w) {
            metrics
                .watermark
                .store(t, std::sync::atomic::Ordering::Relaxed);
            self.chain.push_watermark(t, out)?;
            flush(out, &mut self.exchange, metrics).await?;
            *idle_sent = false;
        } else if wms.all_idle() {
            if !*idle_sent {
                self.chain.push_idle()?;
                self.exchange
                    .broadcast(Message::Watermark(Watermark::Idle))
                    .await?;
                *idle_sent = true;
            }
        } else if *idle_sent {
            if let Some(t) = wms.current() {
                self.exchange
                    .broadcast(Message::Watermark(Watermark::EventTime(t)))
                    .await?;
            }
            *idle_sent = false;
        }
        Ok(())
    }
}

/// Receives the next message from any input that is neither blocked (aligning) nor ended,
/// taking inputs in turn so none starves.
async fn next_message(
    inputs: &mut [mpsc::Receiver<Message>],
    blocked: &[bool],
    ended: &[bool],
    rr: &mut usize,
) -> (usize, Message) {
    let n = inputs.len();
    poll_fn(|cx| {
        for k in 0..n {
            let i = (*rr + k) % n;
            if blocked[i] || ended[i] {
                continue;
            }
            match inputs[i].poll_recv(cx) {
                Poll::Ready(Some(m)) => {
                    *rr = i + 1;
                    return Poll::Ready((i, m));
                }
                // A closed channel without End means the upstream task failed; the job
                // runner sees that failure, so treat it as an end here.
                Poll::Ready(None) => return Poll::Ready((i, Message::End)),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}
