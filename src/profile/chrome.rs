//! `Profile::chrome_trace`: the Trace Event Format (JSON object form) that Perfetto and
//! chrome://tracing load.
//!
//! Spans are complete (`"X"`) events, so begin and end can never be unbalanced; cache hits,
//! misses, retraces and fallbacks are thread-scoped instants (`"i"`); memory in use is a
//! counter (`"C"`) per device. Tracks are named with `"M"` metadata events: Python calls,
//! compilation, one per CPU thread, one per CUDA stream, copies. Events are written in
//! start order, so timestamps never go back on any track. Long runs stay small because
//! sessions sample repeated events (see `session`); sampled events say so in their args.

use super::session::{Kept, SessionData};
use super::{giga_per_second, Event, EventKind};
use ember_ir::Device;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Track groups, in display order; a track's id is its group base plus a thread or stream.
const PYTHON: u64 = 1_000;
const COMPILE: u64 = 2_000;
const CPU: u64 = 3_000;
const CUDA: u64 = 4_000;
const COPIES: u64 = 100_000;

/// Which track an event goes on.
fn track(e: &Event) -> u64 {
    let thread = u64::from(e.thread);
    match e.kind {
        EventKind::Transfer => COPIES + thread,
        k if k.is_compile() => COMPILE + thread,
        _ => match (e.stream, e.device) {
            (Some(s), Device::Cuda(d)) => CUDA + u64::from(d) * 1_000 + u64::from(s),
            (Some(s), Device::Cpu) => CUDA + u64::from(s),
            (None, _) if e.from_python => PYTHON + thread,
            (None, _) => CPU + thread,
        },
    }
}

fn track_name(tid: u64, groups: &BTreeMap<u64, usize>) -> String {
    let group = if tid >= COPIES {
        COPIES
    } else {
        tid / 1_000 * 1_000
    };
    let n = tid - group;
    let several = groups.get(&group).copied().unwrap_or(0) > 1;
    let suffix = if several {
        format!(" (thread {n})")
    } else {
        String::new()
    };
    match group {
        PYTHON => format!("Python calls{suffix}"),
        COMPILE => format!("Compilation{suffix}"),
        CPU => format!("CPU thread {n}"),
        CUDA => format!("CUDA stream {} (cuda:{})", n % 1_000, n / 1_000),
        _ => format!("Copies{suffix}"),
    }
}

/// Renders a session as trace-event JSON.
pub(crate) fn render(d: &SessionData) -> String {
    let events = d.sorted_events();
    let pid = std::process::id();
    let mut tracks: BTreeSet<u64> = BTreeSet::new();
    for k in &events {
        if !matches!(k.event.kind, EventKind::Alloc | EventKind::Free) {
            tracks.insert(track(&k.event));
        }
    }
    // How many tracks each group has, to name "Python calls" plainly when there is one.
    let mut groups: BTreeMap<u64, usize> = BTreeMap::new();
    for &tid in &tracks {
        let g = if tid >= COPIES {
            COPIES
        } else {
            tid / 1_000 * 1_000
        };
        *groups.entry(g).or_default() += 1;
    }
    let mut out = String::from("{\"traceEvents\":[\n");
    let mut first = true;
    let mut push = |out: &mut String, line: String| {
        if !first {
            out.push_str(",\n");
        }
        first = false;
        out.push_str(&line);
    };
    push(
        &mut out,
        format!(
            r#"{{"name":"process_name","ph":"M","pid":{pid},"tid":0,"ts":0,"args":{{"name":"ember"}}}}"#
        ),
    );
    for &tid in &tracks {
        push(
            &mut out,
            format!(
                r#"{{"name":"thread_name","ph":"M","pid":{pid},"tid":{tid},"ts":0,"args":{{"name":{}}}}}"#,
                json_str(&track_name(tid, &groups))
            ),
        );
        push(
            &mut out,
            format!(
                r#"{{"name":"thread_sort_index","ph":"M","pid":{pid},"tid":{tid},"ts":0,"args":{{"sort_index":{tid}}}}}"#
            ),
        );
    }
    for k in &events {
        push(&mut out, event_json(k, pid));
    }
    out.push_str("\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{");
    let _ = write!(
        out,
        "\"producer\":\"ember {}\",\"wall_us\":{},\"events_kept\":{},\"events_sampled_out\":{},\"max_events_per_name\":{}",
        env!("CARGO_PKG_VERSION"),
        micros(d.wall_ns()),
        events.len(),
        d.dropped,
        d.opts.max_events_per_name
    );
    out.push_str("}}\n");
    out
}

fn event_json(k: &Kept, pid: u32) -> String {
    let e = &k.event;
    let ts = micros(e.start_ns);
    if matches!(e.kind, EventKind::Alloc | EventKind::Free) {
        return format!(
            r#"{{"name":{},"ph":"C","pid":{pid},"tid":0,"ts":{ts},"args":{{"bytes":{}}}}}"#,
            json_str(&format!("memory {}", e.device)),
            k.in_use
        );
    }
    let tid = track(e);
    let name = match e.kind {
        EventKind::Transfer => format!("copy {}", e.name),
        EventKind::Kernel | EventKind::Call => e.name.to_string(),
        kind => format!("{kind} {}", e.name),
    };
    let mut args = String::new();
    let mut arg = |key: &str, value: String| {
        if !args.is_empty() {
            args.push(',');
        }
        let _ = write!(args, "{}:{value}", json_str(key));
    };
    if e.bytes > 0 {
        arg("bytes", e.bytes.to_string());
    }
    if e.flops > 0 {
        arg("flops", e.flops.to_string());
    }
    if e.dur_ns > 0 && e.bytes > 0 {
        arg("GB/s", format!("{:.3}", giga_per_second(e.bytes, e.dur_ns)));
    }
    if e.dur_ns > 0 && e.flops > 0 {
        arg(
            "GFLOP/s",
            format!("{:.3}", giga_per_second(e.flops, e.dur_ns)),
        );
    }
    if let Some(d) = e.direction {
        arg("direction", json_str(d.name()));
    }
    if let Some(l) = e.launch_ns {
        // The span is the device's time; the host spent this much launching it.
        arg("clock", json_str("device"));
        arg("launch us", micros(l));
    }
    if e.device != Device::Cpu {
        arg("device", json_str(&e.device.to_string()));
    }
    if let Some(r) = &e.reason {
        arg("reason", json_str(r));
    }
    if !e.locs.is_empty() {
        let locs: Vec<String> = e.loc_strings().iter().map(|l| json_str(l)).collect();
        arg("source", format!("[{}]", locs.join(",")));
    }
    if k.stride > 1 {
        arg("sampled", json_str(&format!("1 in {}", k.stride)));
    }
    let head = format!(
        r#""name":{},"cat":"{}","pid":{pid},"tid":{tid},"ts":{ts}"#,
        json_str(&name),
        e.kind
    );
    if e.dur_ns == 0
        && matches!(
            e.kind,
            EventKind::CacheHit | EventKind::CacheMiss | EventKind::Retrace | EventKind::Fallback
        )
    {
        format!(r#"{{{head},"ph":"i","s":"t","args":{{{args}}}}}"#)
    } else {
        format!(
            r#"{{{head},"ph":"X","dur":{},"args":{{{args}}}}}"#,
            micros(e.dur_ns)
        )
    }
}

/// Nanoseconds as microseconds with three decimals, exactly.
fn micros(ns: u64) -> String {
    format!("{}.{:03}", ns / 1_000, ns % 1_000)
}

/// `s` as a JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
