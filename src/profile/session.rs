//! Profile sessions: the global list of active sessions, what each keeps, and the public
//! [`Profile`] handle.
//!
//! Every session keeps exact aggregates per (kind, name, reason) for the summary, and the
//! events themselves sampled per name: the first `max_events_per_name` of each, then one in
//! 2, 4, 8, ... as the count doubles, so memory and the Chrome trace grow with the logarithm
//! of a long run's length instead of linearly.

use super::{chrome, summary, Direction, Event, EventKind};
use ember_ir::{Device, SourceLoc};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Options of a [`Profile`] session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileOptions {
    /// Events kept as they are per (kind, name, reason) before later ones are sampled.
    pub max_events_per_name: usize,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions {
            max_events_per_name: 1000,
        }
    }
}

/// Aggregate of every event with one (kind, name, reason).
#[derive(Clone, Debug)]
pub(crate) struct Stat {
    pub calls: u64,
    pub total_ns: u64,
    pub min_ns: u64,
    pub max_ns: u64,
    pub bytes: u64,
    pub flops: u64,
    pub locs: Arc<[SourceLoc]>,
    pub direction: Option<Direction>,
    pub device: Device,
}

/// Memory use of one device during a session.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemStat {
    pub current: u64,
    pub peak: u64,
    pub allocs: u64,
    pub allocated: u64,
}

/// An event a session kept.
#[derive(Clone, Debug)]
pub(crate) struct Kept {
    pub event: Event,
    /// The sampling stride it was kept at (1: every event of its name is kept).
    pub stride: u64,
    /// For allocations and frees, the device's bytes in use right after it.
    pub in_use: u64,
}

pub(crate) type StatKey = (EventKind, Arc<str>, Option<Arc<str>>);

/// What one session has recorded. Times are absolute ([`super::now_ns`]).
#[derive(Debug)]
pub(crate) struct SessionData {
    pub start_ns: u64,
    pub stop_ns: Option<u64>,
    pub opts: ProfileOptions,
    pub events: Vec<Kept>,
    pub stats: HashMap<StatKey, Stat>,
    pub memory: BTreeMap<Device, MemStat>,
    pub dropped: u64,
}

impl SessionData {
    fn push(&mut self, event: &Event) {
        let mut e = event.clone();
        // A span that began before the session counts from the session's start.
        if e.start_ns < self.start_ns {
            e.dur_ns = e.dur_ns.saturating_sub(self.start_ns - e.start_ns);
            e.start_ns = self.start_ns;
        }
        let in_use = match e.kind {
            EventKind::Alloc => {
                let m = self.memory.entry(e.device).or_default();
                m.current += e.bytes;
                m.peak = m.peak.max(m.current);
                m.allocs += 1;
                m.allocated += e.bytes;
                m.current
            }
            EventKind::Free => {
                let m = self.memory.entry(e.device).or_default();
                m.current = m.current.saturating_sub(e.bytes);
                m.current
            }
            _ => 0,
        };
        let key = (e.kind, e.name.clone(), e.reason.clone());
        let stat = self.stats.entry(key).or_insert_with(|| Stat {
            calls: 0,
            total_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            bytes: 0,
            flops: 0,
            locs: e.locs.clone(),
            direction: e.direction,
            device: e.device,
        });
        let n = stat.calls;
        stat.calls += 1;
        stat.total_ns += e.dur_ns;
        stat.min_ns = stat.min_ns.min(e.dur_ns);
        stat.max_ns = stat.max_ns.max(e.dur_ns);
        stat.bytes += e.bytes;
        stat.flops += e.flops;
        match sample_stride(n, self.opts.max_events_per_name as u64) {
            Some(stride) => self.events.push(Kept {
                event: e,
                stride,
                in_use,
            }),
            None => self.dropped += 1,
        }
    }

    /// Kept events, relative to the session's start, ordered by start (an enclosing span
    /// before what it encloses).
    pub fn sorted_events(&self) -> Vec<Kept> {
        let mut out: Vec<Kept> = self
            .events
            .iter()
            .map(|k| {
                let mut k = k.clone();
                k.event.start_ns -= self.start_ns;
                k
            })
            .collect();
        out.sort_by_key(|k| (k.event.start_ns, std::cmp::Reverse(k.event.dur_ns)));
        out
    }

    /// Nanoseconds from start to stop (or to now while running).
    pub fn wall_ns(&self) -> u64 {
        self.stop_ns
            .unwrap_or_else(super::now_ns)
            .saturating_sub(self.start_ns)
    }
}

/// Whether the `n`-th (0-based) event of a name is kept, and at what stride: every one below
/// `max`, then one in 2 up to `2 * max`, one in 4 up to `4 * max`, ...
pub(crate) fn sample_stride(n: u64, max: u64) -> Option<u64> {
    if n < max {
        return Some(1);
    }
    if max == 0 {
        return None;
    }
    let doublings = 63 - (n / max).leading_zeros() as u64;
    let stride = 1u64 << (doublings + 1).min(63);
    n.is_multiple_of(stride).then_some(stride)
}

/// One session's data, shared between its handle and the recorder.
pub(crate) type Shared = Arc<Mutex<SessionData>>;

static SESSIONS: Mutex<Vec<Shared>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a profiler lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds `event` to every active session.
pub(crate) fn dispatch(event: &Event) {
    for s in lock(&SESSIONS).iter() {
        lock(s).push(event);
    }
}

/// The sessions active now (a device-timed event is recorded in these once resolved).
pub(crate) fn active() -> Vec<Shared> {
    lock(&SESSIONS).clone()
}

/// Adds `event` to session `s` (active or not: it began while the session was).
pub(crate) fn push_to(s: &Shared, event: &Event) {
    lock(s).push(event);
}

/// A profiling session: records events from [`Profile::start`] until [`Profile::stop`] (or
/// until it is dropped). Sessions may overlap; each sees every event in its own interval.
#[derive(Debug)]
pub struct Profile {
    data: Shared,
    active: bool,
}

impl Profile {
    /// Starts a session with default options.
    pub fn start() -> Profile {
        Profile::start_with(ProfileOptions::default())
    }

    /// Starts a session with `opts`.
    pub fn start_with(opts: ProfileOptions) -> Profile {
        let data = Arc::new(Mutex::new(SessionData {
            start_ns: super::now_ns(),
            stop_ns: None,
            opts,
            events: Vec::new(),
            stats: HashMap::new(),
            memory: BTreeMap::new(),
            dropped: 0,
        }));
        lock(&SESSIONS).push(data.clone());
        super::add_session();
        Profile { data, active: true }
    }

    /// Stops recording; the results stay readable. Stopping twice does nothing.
    pub fn stop(&mut self) {
        if !self.active {
            return;
        }
        super::device::resolve();
        self.active = false;
        lock(&SESSIONS).retain(|s| !Arc::ptr_eq(s, &self.data));
        super::remove_session();
        lock(&self.data).stop_ns = Some(super::now_ns());
    }

    /// Whether the session is still recording.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The kept events, with `start_ns` relative to the session's start, ordered by start.
    /// Beyond `max_events_per_name` per name, events are sampled (see [`ProfileOptions`]).
    pub fn events(&self) -> Vec<Event> {
        super::device::resolve();
        lock(&self.data)
            .sorted_events()
            .into_iter()
            .map(|k| k.event)
            .collect()
    }

    /// How many events were counted in the aggregates but not kept.
    pub fn dropped_events(&self) -> u64 {
        super::device::resolve();
        lock(&self.data).dropped
    }

    /// The highest number of bytes allocated at once on `device` during the session.
    pub fn peak_memory(&self, device: Device) -> u64 {
        lock(&self.data).memory.get(&device).map_or(0, |m| m.peak)
    }

    /// A table of where time went: compile work, then run work per kernel or op (calls,
    /// total, mean, % of the run, GB/s, GFLOP/s, source lines), copies, cache and fallbacks,
    /// memory.
    pub fn summary(&self) -> String {
        super::device::resolve();
        summary::render(&lock(&self.data))
    }

    /// The session as Chrome trace-event JSON (loads in Perfetto and chrome://tracing).
    pub fn chrome_trace(&self) -> String {
        super::device::resolve();
        chrome::render(&lock(&self.data))
    }

    /// Writes [`Profile::chrome_trace`] to `path`.
    pub fn export_chrome_trace(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.chrome_trace())
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        self.stop();
    }
}
