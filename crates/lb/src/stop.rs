//! A listener's stop signal: set once, awaited by its accept loops and every one of its connections. Waiting again
//! after a wake-up costs a flag load and a waker comparison (a `watch` receiver took a lock each time a
//! connection's task was polled, which is every request).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The stop signal; clones share it.
#[derive(Clone, Default)]
pub(crate) struct Stop(Arc<Inner>);

#[derive(Default)]
struct Inner {
    stopped: AtomicBool,
    waiters: Mutex<Waiters>,
}

/// The wakers of those waiting, in slots reused once free.
#[derive(Default)]
struct Waiters {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Stop {
    /// Sets the signal and wakes every waiter.
    pub(crate) fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
        let wakers: Vec<Waker> = {
            let mut w = self.0.waiters.lock().unwrap_or_else(|p| p.into_inner());
            w.slots.iter_mut().filter_map(Option::take).collect()
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Whether it is set.
    pub(crate) fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Resolves once the signal is set.
    pub(crate) fn wait(&self) -> Wait<'_> {
        Wait { stop: self, slot: None, waker: None }
    }
}

/// A wait for a [`Stop`]; its waker is registered on the first poll (again only if the task's waker changes), and
/// removed when dropped.
pub(crate) struct Wait<'a> {
    stop: &'a Stop,
    slot: Option<usize>,
    waker: Option<Waker>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.stop.is_stopped() {
            return Poll::Ready(());
        }
        if self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        let waker = cx.waker().clone();
        {
            let mut w = self.stop.0.waiters.lock().unwrap_or_else(|p| p.into_inner());
            let slot = match self.slot {
                Some(i) => i,
                None => match w.free.pop() {
                    Some(i) => i,
                    None => {
                        w.slots.push(None);
                        w.slots.len() - 1
                    }
                },
            };
            w.slots[slot] = Some(waker.clone());
            self.slot = Some(slot);
        }
        self.waker = Some(waker);
        // (set while registering: `stop` may have taken the wakers before this one went in)
        if self.stop.is_stopped() { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let mut w = self.stop.0.waiters.lock().unwrap_or_else(|p| p.into_inner());
            w.slots[i] = None;
            w.free.push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_on_stop_and_slots_are_reused() {
        let stop = Stop::default();
        let a = tokio::spawn({
            let stop = stop.clone();
            async move { stop.wait().await }
        });
        let b = tokio::spawn({
            let stop = stop.clone();
            async move { stop.wait().await }
        });
        tokio::task::yield_now().await;
        {
            // a wait that ends gives its slot back
            let w = stop.wait();
            tokio::pin!(w);
            assert!(futures::poll!(w.as_mut()).is_pending());
        }
        assert_eq!(stop.0.waiters.lock().unwrap().free.len(), 1);
        stop.stop();
        a.await.unwrap();
        b.await.unwrap();
        stop.wait().await;
    }
}
