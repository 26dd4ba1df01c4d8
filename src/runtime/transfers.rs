//! The copy ledger and the transfer guard.
//!
//! Every copy Ember makes of array data at run time is recorded here with its bytes,
//! direction, duration, cause and whether the user asked for it (`t.to(...)`, `.numpy()` of
//! a device tensor, `copy=True`) or Ember made it on its own (an argument whose layout cannot
//! be borrowed, a kernel operand that cannot be viewed, placement). The guard decides what an
//! *implicit* copy does: `Allow` it silently, `Log` it to stderr, or `Disallow` it with an
//! error that names the cause and the bytes (like JAX's `transfer_guard`). Host-to-device
//! transfers go through the same gate once the CUDA runtime executes plans.

use crate::error::{EmberError, Result};
use crate::profile::{self, Direction};
use ember_ir::Device;
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What an implicit copy does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Copy silently (the default).
    Allow,
    /// Copy and print one line to stderr.
    Log,
    /// Refuse with [`EmberError::Transfer`].
    Disallow,
}

impl Guard {
    /// Parses `"allow"`, `"log"` or `"disallow"`.
    pub fn parse(s: &str) -> Option<Guard> {
        match s {
            "allow" => Some(Guard::Allow),
            "log" => Some(Guard::Log),
            "disallow" => Some(Guard::Disallow),
            _ => None,
        }
    }

    /// The name [`Guard::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Guard::Allow => "allow",
            Guard::Log => "log",
            Guard::Disallow => "disallow",
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(c: u8) -> Guard {
        match c {
            1 => Guard::Log,
            2 => Guard::Disallow,
            _ => Guard::Allow,
        }
    }
}

static GLOBAL_GUARD: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// A per-thread override (a `with ember.transfer_guard(...)` block or a jitted call's own
    /// setting); `None` uses the global level.
    static LOCAL_GUARD: Cell<Option<Guard>> = const { Cell::new(None) };
}

/// Sets the process-wide guard level.
pub fn set_global_guard(g: Guard) {
    GLOBAL_GUARD.store(g.code(), Ordering::Relaxed);
}

/// Sets (or clears, with `None`) this thread's override and returns the previous one.
pub fn set_thread_guard(g: Option<Guard>) -> Option<Guard> {
    LOCAL_GUARD.with(|l| l.replace(g))
}

/// The level in force on this thread.
pub fn current_guard() -> Guard {
    LOCAL_GUARD
        .with(Cell::get)
        .unwrap_or_else(|| Guard::from_code(GLOBAL_GUARD.load(Ordering::Relaxed)))
}

/// One copy, as recorded in the ledger.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferRecord {
    /// Bytes copied.
    pub bytes: usize,
    /// Where from and to.
    pub direction: Direction,
    /// The device involved (the host for host copies).
    pub device: Device,
    /// How long the copy took.
    pub duration: Duration,
    /// Why it happened (`argument 0: byte-swapped array copied to native order`).
    pub cause: String,
    /// True when the user asked for it.
    pub explicit: bool,
}

/// Records beyond this many are counted but not kept (the ledger stays small in long runs).
pub const LEDGER_KEEP: usize = 10_000;

static LEDGER: Mutex<Vec<TransferRecord>> = Mutex::new(Vec::new());
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// Checks the guard for an implicit copy about to happen; `Err` when it is disallowed.
pub fn check(bytes: usize, direction: Direction, cause: &str, explicit: bool) -> Result<()> {
    if explicit {
        return Ok(());
    }
    match current_guard() {
        Guard::Allow => Ok(()),
        Guard::Log => {
            eprintln!(
                "[ember] implicit {} copy of {bytes} bytes: {cause}",
                direction.name()
            );
            Ok(())
        }
        Guard::Disallow => Err(EmberError::Transfer(format!(
            "implicit {} copy of {bytes} bytes disallowed by the transfer guard: {cause}",
            direction.name()
        ))),
    }
}

/// Runs `copy` under the guard and records it in the ledger and the profiler.
pub fn copy<T>(
    bytes: usize,
    direction: Direction,
    device: Device,
    cause: &str,
    explicit: bool,
    copy: impl FnOnce() -> Result<T>,
) -> Result<T> {
    check(bytes, direction, cause, explicit)?;
    record(bytes, direction, device, cause, explicit, copy)
}

/// Runs `copy` and records it in the ledger and the profiler without asking the guard: for
/// copies that are part of building a plan (a constant materialized on a device once, at
/// compile time), not of running it.
pub fn record<T>(
    bytes: usize,
    direction: Direction,
    device: Device,
    cause: &str,
    explicit: bool,
    copy: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let span = profile::transfer(bytes, direction, device, cause);
    let start = std::time::Instant::now();
    let out = copy()?;
    let duration = start.elapsed();
    drop(span);
    let mut ledger = LEDGER.lock().unwrap_or_else(|e| e.into_inner());
    if ledger.len() < LEDGER_KEEP {
        ledger.push(TransferRecord {
            bytes,
            direction,
            device,
            duration,
            cause: cause.to_string(),
            explicit,
        });
    } else {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    Ok(out)
}

/// The records so far (and how many more were only counted); `reset` empties the ledger.
pub fn ledger(reset: bool) -> (Vec<TransferRecord>, usize) {
    let mut l = LEDGER.lock().unwrap_or_else(|e| e.into_inner());
    let out = (l.clone(), DROPPED.load(Ordering::Relaxed));
    if reset {
        l.clear();
        DROPPED.store(0, Ordering::Relaxed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disallow_refuses_implicit_copies_only() {
        // The copy below would show in a profile test's session running at the same time.
        let _serial = crate::profile::test_serial();
        let prev = set_thread_guard(Some(Guard::Disallow));
        let r = copy(
            8,
            Direction::HostToHost,
            Device::Cpu,
            "test: implicit",
            false,
            || Ok(1),
        );
        assert!(
            matches!(r, Err(EmberError::Transfer(m)) if m.contains("8 bytes") && m.contains("test: implicit"))
        );
        let ok = copy(
            8,
            Direction::HostToHost,
            Device::Cpu,
            "test: explicit",
            true,
            || Ok(2),
        );
        assert_eq!(ok.ok(), Some(2));
        set_thread_guard(prev);
        let (records, _) = ledger(false);
        assert!(records
            .iter()
            .any(|r| r.cause == "test: explicit" && r.explicit));
        assert!(!records.iter().any(|r| r.cause == "test: implicit"));
    }
}
