//! Device-timed events: kernels, library calls and copies on a device, timed by the device.
//!
//! A launch on a GPU returns before the work runs, so a span around it measures the launch,
//! not the kernel. While profiling, a device runtime brackets each kernel, library call and
//! copy it queues with two CUDA events on its stream and hands them to [`device_work`] as a
//! [`DeviceTimer`] (the simulated device times its execution on the CPU the same way). The
//! innermost span open on that thread for a device (a plan step, a copy) takes the timers
//! queued while it was open, and instead of recording its event at once it is *parked*: its
//! duration becomes the device's time (the sum of its timers), [`Event::launch_ns`] keeps the
//! host's launch time, and its start is placed on the device's timeline (not before the
//! launch began, not before the device's previous timed work ended, since one stream runs
//! its work in order). Parked events are resolved, waiting for their work to finish, when a
//! profile is read ([`super::Profile::events`], `summary`, `chrome_trace`, `stop`), when the
//! device is synchronized, or when too many are waiting; they go to the sessions that were
//! active when their span ended.

use super::session::{self, Shared};
use super::{Event, EventKind};
use ember_ir::Device;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// Device time of work queued on a device, known once the work has finished.
pub trait DeviceTimer: Send + fmt::Debug {
    /// Nanoseconds the device spent on the work, waiting for it to finish; an error when
    /// the device could not say (the event is then kept with its host-measured time).
    fn elapsed_ns(&self) -> Result<u64, String>;
}

/// A timer whose time is already known (the simulated device, which runs synchronously).
#[derive(Clone, Copy, Debug)]
pub struct Measured(pub u64);

impl DeviceTimer for Measured {
    fn elapsed_ns(&self) -> Result<u64, String> {
        Ok(self.0)
    }
}

/// Timers queued on this thread and not yet taken by a span: more are dropped (the oldest)
/// when no span takes them.
const MAX_QUEUED: usize = 1024;
/// Parked events beyond this are resolved at once (waiting for the oldest work).
const MAX_PARKED: usize = 4096;

thread_local! {
    static QUEUED: RefCell<Vec<Box<dyn DeviceTimer>>> = const { RefCell::new(Vec::new()) };
}

/// An event waiting for its device time.
#[derive(Debug)]
struct Parked {
    event: Event,
    timers: Vec<Box<dyn DeviceTimer>>,
    sessions: Vec<Shared>,
}

static PARKED: Mutex<Vec<Parked>> = Mutex::new(Vec::new());
/// Serializes resolution, and holds where each device's timed work ended last.
static TIMELINE: Mutex<Option<HashMap<Device, u64>>> = Mutex::new(None);

/// Hands the timer of work just queued on a device to the innermost open device span of this
/// thread. Does nothing when profiling is off; runtimes call [`super::enabled`] first so they
/// make no events then.
pub fn device_work(timer: Box<dyn DeviceTimer>) {
    if !super::enabled() {
        return;
    }
    QUEUED.with(|q| {
        let mut q = q.borrow_mut();
        if q.len() >= MAX_QUEUED {
            q.remove(0);
        }
        q.push(timer);
    });
}

/// How many timers are queued on this thread (a span's mark when it starts).
pub(super) fn queued() -> usize {
    QUEUED.with(|q| q.borrow().len())
}

/// Takes the timers queued on this thread since `mark`.
pub(super) fn take_since(mark: usize) -> Vec<Box<dyn DeviceTimer>> {
    QUEUED.with(|q| {
        let mut q = q.borrow_mut();
        let at = mark.min(q.len());
        q.split_off(at)
    })
}

/// Parks `event` until its `timers` are resolved (see the module documentation).
pub(super) fn park(event: Event, timers: Vec<Box<dyn DeviceTimer>>) {
    let sessions = session::active();
    let full = {
        let mut p = PARKED.lock().unwrap_or_else(|e| e.into_inner());
        p.push(Parked {
            event,
            timers,
            sessions,
        });
        p.len() > MAX_PARKED
    };
    if full {
        resolve();
    }
}

/// Resolves every parked event: waits for its work, sets its device time and place on the
/// device's timeline, and records it in the sessions it belongs to.
pub fn resolve() {
    let mut timeline = TIMELINE.lock().unwrap_or_else(|e| e.into_inner());
    let parked = std::mem::take(&mut *PARKED.lock().unwrap_or_else(|e| e.into_inner()));
    if parked.is_empty() {
        return;
    }
    let ends = timeline.get_or_insert_with(HashMap::new);
    for Parked {
        mut event,
        timers,
        sessions,
    } in parked
    {
        let mut device_ns = 0u64;
        let mut failed = None;
        for t in &timers {
            match t.elapsed_ns() {
                Ok(ns) => device_ns += ns,
                Err(e) => failed = Some(e),
            }
        }
        match failed {
            // The host's measure stays; say why.
            Some(why) => {
                let reason = match &event.reason {
                    Some(r) => format!("{r}; device time unavailable: {why}"),
                    None => format!("device time unavailable: {why}"),
                };
                event.reason = Some(reason.into());
            }
            None => {
                event.launch_ns = Some(event.dur_ns);
                event.dur_ns = device_ns;
                let end = ends.entry(event.device).or_insert(0);
                event.start_ns = event.start_ns.max(*end);
                *end = event.start_ns + event.dur_ns;
            }
        }
        if super::debug_level() >= 2 && event.kind.is_run() {
            eprintln!("[ember] {}", super::debug_line(&event));
        }
        for s in &sessions {
            session::push_to(s, &event);
        }
    }
}

/// Whether `kind` on `device` is device work a span may time with the device's clock.
pub(super) fn timed(kind: EventKind, device: Device) -> bool {
    device != Device::Cpu
        && matches!(
            kind,
            EventKind::Kernel | EventKind::LibraryCall | EventKind::Transfer
        )
}
