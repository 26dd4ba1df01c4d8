//! The profiler: where time, compilation and copies go, mapped to the user's source lines.
//!
//! Events (tracing, passes, compiles, cache hits and misses, retraces and fallbacks with
//! their reasons, kernels, library and host calls, transfers, allocations) are recorded only
//! while a [`Profile`] session is active or `EMBER_DEBUG` is 2 or more. When neither holds,
//! every hook costs one relaxed atomic load ([`enabled`]) and returns.
//!
//! ```
//! use ember::profile::{self, EventKind, Profile};
//!
//! let mut p = Profile::start();
//! {
//!     let _s = profile::span(EventKind::HostCall, "work");
//! }
//! p.stop();
//! assert_eq!(p.events().len(), 1);
//! println!("{}", p.summary());
//! ```
//!
//! Hooks for the runtime: build a [`KernelInfo`] per step when the plan is built (name,
//! source lines, bytes, flops), then wrap each step's execution in [`kernel`]; the returned
//! guard records the step's time when dropped. Work queued on a device is timed by the device
//! instead: its runtime hands a [`DeviceTimer`] (CUDA events around the work) to
//! [`device_work`], and the step's event gets the device's time once it is known.

mod chrome;
mod device;
mod session;
mod summary;
#[cfg(test)]
mod tests;

pub use device::{device_work, resolve as resolve_device_times, DeviceTimer, Measured};
pub use session::{Profile, ProfileOptions};

use ember_ir::target::flops_and_bytes;
use ember_ir::{Device, Graph, NodeId, Op, SourceLoc};
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// What an [`Event`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A call of a jitted function (from Python or Rust).
    Call,
    /// Tracing a function into a graph.
    Trace,
    /// One optimization pass.
    Pass,
    /// Compiling a traced graph (optimization, planning, code generation).
    Compile,
    /// A call answered from the compiled-function cache.
    CacheHit,
    /// A call whose signature was not cached.
    CacheMiss,
    /// A cache miss of a function that had already traced, with the reason.
    Retrace,
    /// A call that runs eagerly because tracing failed, with the reason.
    Fallback,
    /// A kernel (fused or single op) running.
    Kernel,
    /// A library call (GEMM, ...).
    LibraryCall,
    /// A step run on the host by calling back into Rust or Python.
    HostCall,
    /// A copy between devices or between host buffers, with its direction and cause.
    Transfer,
    /// Memory allocated on a device.
    Alloc,
    /// Memory freed on a device.
    Free,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 14] = [
        EventKind::Call,
        EventKind::Trace,
        EventKind::Pass,
        EventKind::Compile,
        EventKind::CacheHit,
        EventKind::CacheMiss,
        EventKind::Retrace,
        EventKind::Fallback,
        EventKind::Kernel,
        EventKind::LibraryCall,
        EventKind::HostCall,
        EventKind::Transfer,
        EventKind::Alloc,
        EventKind::Free,
    ];

    /// The kind's name as Python and the Chrome trace spell it (`cache_hit`, `kernel`, ...).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Call => "call",
            EventKind::Trace => "trace",
            EventKind::Pass => "pass",
            EventKind::Compile => "compile",
            EventKind::CacheHit => "cache_hit",
            EventKind::CacheMiss => "cache_miss",
            EventKind::Retrace => "retrace",
            EventKind::Fallback => "fallback",
            EventKind::Kernel => "kernel",
            EventKind::LibraryCall => "library_call",
            EventKind::HostCall => "host_call",
            EventKind::Transfer => "transfer",
            EventKind::Alloc => "alloc",
            EventKind::Free => "free",
        }
    }

    /// The kind named `name` (see [`EventKind::name`]).
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether this kind is work done to compile (tracing, passes, compiles).
    pub fn is_compile(self) -> bool {
        matches!(
            self,
            EventKind::Trace | EventKind::Pass | EventKind::Compile
        )
    }

    /// Whether this kind is work done to run (kernels, library and host calls, copies).
    pub fn is_run(self) -> bool {
        matches!(
            self,
            EventKind::Kernel | EventKind::LibraryCall | EventKind::HostCall | EventKind::Transfer
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The direction of a [`EventKind::Transfer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Host memory to a device.
    HostToDevice,
    /// A device to host memory.
    DeviceToHost,
    /// Between two devices (or within one).
    DeviceToDevice,
    /// Within host memory (layout or byte-order conversions at the NumPy boundary).
    HostToHost,
}

impl Direction {
    /// Short name: `h2d`, `d2h`, `d2d`, `h2h`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::HostToDevice => "h2d",
            Direction::DeviceToHost => "d2h",
            Direction::DeviceToDevice => "d2d",
            Direction::HostToHost => "h2h",
        }
    }

    /// The direction named `name` (see [`Direction::name`]).
    pub fn from_name(name: &str) -> Option<Direction> {
        [
            Direction::HostToDevice,
            Direction::DeviceToHost,
            Direction::DeviceToDevice,
            Direction::HostToHost,
        ]
        .into_iter()
        .find(|d| d.name() == name)
    }
}

/// One recorded event. Times are nanoseconds of the profiler's monotonic clock
/// ([`now_ns`]); [`Profile::events`] returns them relative to the session's start.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The function, pass, kernel or copy name.
    pub name: Arc<str>,
    /// Start, in nanoseconds.
    pub start_ns: u64,
    /// Duration in nanoseconds (0 for instants such as cache hits).
    pub dur_ns: u64,
    /// Small id of the thread that recorded it (see [`thread_id`]).
    pub thread: u32,
    /// The device it ran on or allocated from (for a transfer, the device end).
    pub device: Device,
    /// The CUDA stream, when it ran on one.
    pub stream: Option<u32>,
    /// Bytes read plus written (kernels), moved (transfers) or allocated/freed.
    pub bytes: u64,
    /// Arithmetic operations (kernels).
    pub flops: u64,
    /// Direction of a transfer.
    pub direction: Option<Direction>,
    /// Why: the retrace or fallback reason, the cause of a copy.
    pub reason: Option<Arc<str>>,
    /// The user's source lines whose ops this event ran (fused ops give several).
    pub locs: Arc<[SourceLoc]>,
    /// Whether Python recorded it (it goes on the "Python calls" track).
    pub from_python: bool,
    /// For a kernel, library call or copy timed by its device (CUDA events; the simulated
    /// device times its execution): the host time the launch or copy call took, while
    /// `dur_ns` is the device's time and `start_ns` its place on the device's timeline.
    /// `None` for events timed on the host.
    pub launch_ns: Option<u64>,
}

impl Event {
    /// An event of `kind` named `name` starting now, on this thread, with no duration.
    pub fn new(kind: EventKind, name: impl Into<Arc<str>>) -> Event {
        Event {
            kind,
            name: name.into(),
            start_ns: now_ns(),
            dur_ns: 0,
            thread: thread_id(),
            device: Device::Cpu,
            stream: None,
            bytes: 0,
            flops: 0,
            direction: None,
            reason: None,
            locs: Arc::from([]),
            from_python: false,
            launch_ns: None,
        }
    }

    /// Sets the reason (retrace, fallback, copy cause).
    pub fn with_reason(mut self, reason: impl Into<Arc<str>>) -> Event {
        self.reason = Some(reason.into());
        self
    }

    /// The source lines as `file:line` strings.
    pub fn loc_strings(&self) -> Vec<String> {
        self.locs.iter().map(|l| l.to_string()).collect()
    }
}

// Bit layout of STATE: the low bits count active sessions; DEBUG_ON is set when
// EMBER_DEBUG >= 2 (events are printed even without a session); UNINIT until the environment
// has been read, so the first `enabled()` call reads it and later ones are one load.
const UNINIT: usize = 1 << (usize::BITS - 1);
const DEBUG_ON: usize = 1 << (usize::BITS - 2);
static STATE: AtomicUsize = AtomicUsize::new(UNINIT);
static EPOCH: OnceLock<Instant> = OnceLock::new();
static DEBUG_LEVEL: OnceLock<u32> = OnceLock::new();
static NEXT_THREAD: AtomicU32 = AtomicU32::new(1);

thread_local! {
    static THREAD_ID: Cell<u32> = const { Cell::new(0) };
}

/// Whether events are being recorded: a session is active or `EMBER_DEBUG` >= 2. One relaxed
/// atomic load after the first call; hooks test this before doing any work.
#[inline]
pub fn enabled() -> bool {
    let s = STATE.load(Ordering::Relaxed);
    s != 0 && (s & UNINIT == 0 || init_state())
}

#[cold]
fn init_state() -> bool {
    if debug_level() >= 2 {
        STATE.fetch_or(DEBUG_ON, Ordering::Relaxed);
    }
    STATE.fetch_and(!UNINIT, Ordering::Relaxed);
    STATE.load(Ordering::Relaxed) != 0
}

fn add_session() {
    init_state();
    STATE.fetch_add(1, Ordering::Relaxed);
}

fn remove_session() {
    STATE.fetch_sub(1, Ordering::Relaxed);
}

/// The `EMBER_DEBUG` level, read once: 0 quiet; 1 retraces, fallbacks and compiles; 2 also one
/// line per kernel launch and copy with its time and GB/s; 3 also the graph after each pass;
/// 4 also generated code. A value that is not a number counts as 1.
pub fn debug_level() -> u32 {
    *DEBUG_LEVEL.get_or_init(|| match std::env::var("EMBER_DEBUG") {
        Ok(v) if v.trim().is_empty() => 0,
        Ok(v) => v.trim().parse().unwrap_or(1),
        Err(_) => 0,
    })
}

/// Prints `msg` to stderr as `[ember] msg` when the debug level is at least `level`.
pub fn debug_print(level: u32, msg: impl fmt::Display) {
    if debug_level() >= level {
        eprintln!("[ember] {msg}");
    }
}

/// Nanoseconds since the profiler's epoch (the first use of the clock), monotonic.
pub fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A small, stable id of the calling thread (1, 2, ...), for trace tracks.
pub fn thread_id() -> u32 {
    THREAD_ID.with(|c| {
        if c.get() == 0 {
            c.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        c.get()
    })
}

/// Records `event` in every active session (and prints it at `EMBER_DEBUG` >= 2 when it is
/// a kernel, library call, host call or copy). Does nothing when [`enabled`] is false.
pub fn record(event: Event) {
    record_ref(&event);
}

fn record_ref(event: &Event) {
    if !enabled() {
        return;
    }
    if debug_level() >= 2 && event.kind.is_run() {
        eprintln!("[ember] {}", debug_line(event));
    }
    session::dispatch(event);
}

/// Records an instant event (a cache hit, miss, retrace or fallback) with an optional reason.
pub fn instant(kind: EventKind, name: &str, reason: Option<&str>) {
    if !enabled() {
        return;
    }
    let mut e = Event::new(kind, name);
    e.reason = reason.map(Arc::from);
    record(e);
}

/// A running span: records its event, with the elapsed time, when dropped. A span of device
/// work (a kernel, library call or copy on a device) whose runtime handed over device timers
/// while it was open is recorded with the device's time instead, once that is known (see
/// [`device_work`]).
#[derive(Debug)]
#[must_use = "a span records when it is dropped; bind it with `let _span = ...`"]
pub struct Span {
    event: Event,
    /// Device timers queued on this thread before the span began.
    mark: usize,
}

impl Span {
    fn new(event: Event) -> Span {
        Span {
            event,
            mark: device::queued(),
        }
    }
}

impl Span {
    /// The event being timed, to set bytes, flops, reason or locations before it ends.
    pub fn event_mut(&mut self) -> &mut Event {
        &mut self.event
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.event.dur_ns = now_ns().saturating_sub(self.event.start_ns);
        // Timers queued inside belong to this span (inner spans took theirs already).
        let timers = device::take_since(self.mark);
        if !timers.is_empty() && device::timed(self.event.kind, self.event.device) && enabled() {
            let event = std::mem::replace(&mut self.event, Event::new(EventKind::Free, ""));
            device::park(event, timers);
        } else {
            record_ref(&self.event);
        }
    }
}

/// Starts a span of `kind` named `name`, or `None` when profiling is off.
#[inline]
pub fn span(kind: EventKind, name: &str) -> Option<Span> {
    if !enabled() {
        return None;
    }
    Some(Span::new(Event::new(kind, name)))
}

/// Starts a timed copy of `bytes` bytes, or `None` when profiling is off. `cause` says why it
/// happens (`"argument 0: Fortran order"`, `"placement: matmul on cuda:0"`).
#[inline]
pub fn transfer(bytes: usize, direction: Direction, device: Device, cause: &str) -> Option<Span> {
    if !enabled() {
        return None;
    }
    let mut event = Event::new(EventKind::Transfer, direction.name());
    event.bytes = bytes as u64;
    event.direction = Some(direction);
    event.device = device;
    event.reason = Some(Arc::from(cause));
    Some(Span::new(event))
}

/// Serializes the unit tests that record a profile session with the ones that allocate large
/// buffers: a session records every thread's allocations, so a concurrent test's would show in
/// its memory figures.
#[cfg(test)]
pub(crate) fn test_serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records an allocation of `bytes` on `device` (sessions track the high-water mark).
#[inline]
pub fn alloc(device: Device, bytes: usize) {
    if enabled() {
        memory_event(EventKind::Alloc, device, bytes);
    }
}

/// Records that `bytes` allocated on `device` were freed.
#[inline]
pub fn free(device: Device, bytes: usize) {
    if enabled() {
        memory_event(EventKind::Free, device, bytes);
    }
}

fn memory_event(kind: EventKind, device: Device, bytes: usize) {
    let mut e = Event::new(kind, device.to_string());
    e.device = device;
    e.bytes = bytes as u64;
    record(e);
}

/// Records a cache hit of the jitted function `name`.
#[inline]
pub fn cache_hit(name: &str) {
    instant(EventKind::CacheHit, name, None);
}

/// Records a cache miss of `name`, and a retrace with its reason when it had traced before;
/// prints the retrace at `EMBER_DEBUG` >= 1.
pub fn cache_miss(name: &str, retrace_reason: Option<&str>) {
    if let Some(why) = retrace_reason {
        debug_print(1, format_args!("retrace {name}: {why}"));
    }
    instant(EventKind::CacheMiss, name, None);
    if retrace_reason.is_some() {
        instant(EventKind::Retrace, name, retrace_reason);
    }
}

/// Records that `name` falls back to eager execution, and why; prints it at
/// `EMBER_DEBUG` >= 1.
pub fn fallback(name: &str, reason: &str) {
    debug_print(1, format_args!("fallback {name}: {reason}"));
    instant(EventKind::Fallback, name, Some(reason));
}

/// Records one [`EventKind::Pass`] per `(name, duration)`, laid end to end from `start_ns`
/// (passes run one after another, so this is their real order and length).
pub fn passes<'a>(start_ns: u64, passes: impl IntoIterator<Item = (&'a str, u64)>) {
    if !enabled() {
        return;
    }
    let mut t = start_ns;
    for (name, dur) in passes {
        let mut e = Event::new(EventKind::Pass, name);
        e.start_ns = t;
        e.dur_ns = dur;
        t += dur;
        record(e);
    }
}

/// What the runtime knows about one step of a plan, computed once when the plan is built so
/// that timing a step ([`kernel`]) costs nothing more than a clock read and a record.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelInfo {
    /// [`EventKind::Kernel`], [`EventKind::LibraryCall`] or [`EventKind::HostCall`].
    pub kind: EventKind,
    /// Name: the op names joined by `+` (`multiply+add+tanh`).
    pub name: Arc<str>,
    /// The user's source lines of the ops it runs, in order, without repeats.
    pub locs: Arc<[SourceLoc]>,
    /// Bytes it reads and writes.
    pub bytes: u64,
    /// Arithmetic operations it does.
    pub flops: u64,
    /// Where it runs.
    pub device: Device,
    /// The CUDA stream it is launched on.
    pub stream: Option<u32>,
}

/// The nodes a kernel that reads `inputs` and writes `outputs` computes: every node between
/// them (inputs and constants excluded), in node order.
pub fn fused_nodes(graph: &Graph, inputs: &[NodeId], outputs: &[NodeId]) -> Vec<NodeId> {
    let given: HashSet<NodeId> = inputs.iter().copied().collect();
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = outputs.to_vec();
    while let Some(n) = stack.pop() {
        if given.contains(&n) || !seen.insert(n) {
            continue;
        }
        stack.extend(graph.operands(n));
    }
    let mut nodes: Vec<NodeId> = seen
        .into_iter()
        .filter(|&n| !matches!(graph.node(n).op, Op::Input { .. } | Op::Const(_)))
        .collect();
    nodes.sort_by_key(|n| n.index());
    nodes
}

impl KernelInfo {
    /// The step that runs `nodes` of `graph` as one kernel (one node, or a fused group in
    /// topological order). Bytes are those of the group's operands from outside it plus its
    /// results used outside it (for one node, the target model's estimate, which counts
    /// views as free); flops are the sum of the nodes' estimates. A lone matmul is a
    /// library call.
    pub fn for_nodes(graph: &Graph, nodes: &[NodeId]) -> KernelInfo {
        let bytes = match nodes {
            [n] => node_work(graph, *n).bytes,
            _ => group_bytes(graph, nodes) as f64,
        };
        let kind = match nodes {
            [n] if matches!(graph.node(*n).op, Op::MatMul) => EventKind::LibraryCall,
            _ => EventKind::Kernel,
        };
        KernelInfo::describe(graph, nodes, kind, bytes as u64)
    }

    /// A fused kernel given as the runtime sees it: the values bound to its input arguments
    /// and the values it writes (`ember_ir::passes::fuse::KernelStep`'s `inputs` and
    /// `outputs`). The fused ops are every node between them; bytes are the inputs' and
    /// outputs' sizes (each value once), which is what the kernel moves through memory.
    pub fn for_kernel(graph: &Graph, inputs: &[NodeId], outputs: &[NodeId]) -> KernelInfo {
        let nodes = fused_nodes(graph, inputs, outputs);
        let mut moved: HashSet<NodeId> = HashSet::new();
        let bytes: usize = inputs
            .iter()
            .chain(outputs)
            .filter(|&&v| moved.insert(v))
            .map(|&v| graph.node(v).ty.nbytes())
            .sum();
        KernelInfo::describe(graph, &nodes, EventKind::Kernel, bytes as u64)
    }

    /// Node `n` run by its eager kernel (a plan's fallback step): a host call named
    /// `eager <op>`, with the node's estimated bytes and flops.
    pub fn eager(graph: &Graph, n: NodeId) -> KernelInfo {
        let info = KernelInfo::for_nodes(graph, &[n]);
        KernelInfo {
            kind: EventKind::HostCall,
            name: Arc::from(format!("eager {}", info.name)),
            ..info
        }
    }

    fn describe(graph: &Graph, nodes: &[NodeId], kind: EventKind, bytes: u64) -> KernelInfo {
        let mut names: Vec<&str> = Vec::new();
        let mut locs: Vec<SourceLoc> = Vec::new();
        let mut flops = 0.0;
        for &n in nodes {
            let node = graph.node(n);
            names.push(node.op.name());
            if let Some(l) = &node.loc {
                if !locs.contains(l) {
                    locs.push(l.clone());
                }
            }
            flops += node_work(graph, n).flops;
        }
        let name = if names.len() > 6 {
            format!("{}+...({} ops)", names[..4].join("+"), names.len())
        } else {
            names.join("+")
        };
        KernelInfo {
            kind,
            name: Arc::from(name),
            locs: Arc::from(locs),
            bytes,
            flops: flops as u64,
            device: nodes.first().map_or(Device::Cpu, |&n| graph.node(n).device),
            stream: None,
        }
    }
}

fn node_work(graph: &Graph, n: NodeId) -> ember_ir::target::Work {
    let node = graph.node(n);
    let operands = graph.operands(n);
    let types: Vec<_> = operands.iter().map(|&o| &graph.node(o).ty).collect();
    flops_and_bytes(&node.op, &types, &node.ty)
}

fn group_bytes(graph: &Graph, nodes: &[NodeId]) -> usize {
    let inside: HashSet<NodeId> = nodes.iter().copied().collect();
    let mut read: HashSet<NodeId> = HashSet::new();
    let mut bytes = 0;
    for &n in nodes {
        for o in graph.operands(n) {
            if !inside.contains(&o) && read.insert(o) {
                bytes += graph.node(o).ty.nbytes();
            }
        }
        if graph.users(n).iter().any(|u| !inside.contains(u)) {
            bytes += graph.node(n).ty.nbytes();
        }
    }
    bytes
}

/// Starts timing one plan step described by `info`, or `None` when profiling is off. The
/// per-step hook of the runtime: `let _span = profile::kernel(&step.info);`.
#[inline]
pub fn kernel(info: &KernelInfo) -> Option<Span> {
    if !enabled() {
        return None;
    }
    let mut event = Event::new(info.kind, info.name.clone());
    event.locs = info.locs.clone();
    event.bytes = info.bytes;
    event.flops = info.flops;
    event.device = info.device;
    event.stream = info.stream;
    Some(Span::new(event))
}

/// `n` bytes as `12.0 KB`, `3.4 MB`, ... (powers of 1000, as GB/s are).
pub(crate) fn human_bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.2} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} KB", n / 1e3),
        n => format!("{n} B"),
    }
}

/// `ns` nanoseconds as `850 ns`, `12.3 us`, `4.56 ms`, `1.23 s`.
pub(crate) fn human_time(ns: f64) -> String {
    match ns {
        ns if ns >= 1e9 => format!("{:.2} s", ns / 1e9),
        ns if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.1} us", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

/// `per_ns` units done in `ns` nanoseconds as giga-units per second (0 when no time passed).
pub(crate) fn giga_per_second(amount: u64, ns: u64) -> f64 {
    if ns == 0 {
        0.0
    } else {
        amount as f64 / ns as f64
    }
}

/// Source lines as `file.py:3,4 other.py:7`: files by base name, lines in order.
pub(crate) fn compact_locs(locs: &[SourceLoc]) -> String {
    let mut files: Vec<(&str, Vec<u32>)> = Vec::new();
    for l in locs {
        let base = l.file.rsplit(['/', '\\']).next().unwrap_or(&l.file);
        match files.iter_mut().find(|(f, _)| *f == base) {
            Some((_, lines)) => {
                if !lines.contains(&l.line) {
                    lines.push(l.line);
                }
            }
            None => files.push((base, vec![l.line])),
        }
    }
    files
        .iter()
        .map(|(f, lines)| {
            let lines: Vec<String> = lines.iter().map(u32::to_string).collect();
            format!("{f}:{}", lines.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `EMBER_DEBUG=2` line of a kernel, call or copy.
fn debug_line(e: &Event) -> String {
    let rate = giga_per_second(e.bytes, e.dur_ns);
    let mut line = match e.kind {
        EventKind::Transfer => format!(
            "copy {} {} {} {:.2} GB/s",
            e.name,
            human_bytes(e.bytes),
            human_time(e.dur_ns as f64),
            rate
        ),
        kind => format!(
            "{kind} {} {} {:.2} GB/s {:.2} GFLOP/s",
            e.name,
            human_time(e.dur_ns as f64),
            rate,
            giga_per_second(e.flops, e.dur_ns)
        ),
    };
    if e.device != Device::Cpu {
        line += &format!(" on {}", e.device);
    }
    if let Some(l) = e.launch_ns {
        line += &format!(" (device time; launch {})", human_time(l as f64));
    }
    if let Some(r) = &e.reason {
        line += &format!(" ({r})");
    }
    if !e.locs.is_empty() {
        line += &format!(" [{}]", compact_locs(&e.locs));
    }
    line
}
