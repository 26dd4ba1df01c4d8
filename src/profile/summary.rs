//! `Profile::summary`: a key-averages table in the spirit of `torch.profiler`, with compile
//! time apart from run time, achieved rates, the user's source lines, copies, the cache and
//! memory.

use super::session::{SessionData, Stat, StatKey};
use super::{compact_locs, giga_per_second, human_bytes, human_time, EventKind};
use std::fmt::Write;

/// Longest name shown in a table cell; longer names are cut with `...`.
const NAME_WIDTH: usize = 48;

/// Renders the summary of a session.
pub(crate) fn render(d: &SessionData) -> String {
    let mut out = String::new();
    let rows: Vec<(&StatKey, &Stat)> = d.stats.iter().collect();
    let of = |pred: &dyn Fn(EventKind) -> bool| -> Vec<(&StatKey, &Stat)> {
        let mut v: Vec<_> = rows.iter().filter(|(k, _)| pred(k.0)).copied().collect();
        v.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(b.0)));
        v
    };
    let _ = writeln!(
        out,
        "Ember profile: {} wall, {} event(s) recorded{}",
        human_time(d.wall_ns() as f64),
        rows.iter().map(|(_, s)| s.calls).sum::<u64>(),
        if d.dropped > 0 {
            format!(" ({} sampled out of the trace)", d.dropped)
        } else {
            String::new()
        }
    );
    compile_section(&mut out, &of(&|k| k.is_compile()));
    run_section(&mut out, &of(&|k| k.is_run()));
    copies_section(&mut out, &of(&|k| k == EventKind::Transfer));
    calls_section(&mut out, &of(&|k| k == EventKind::Call));
    cache_section(&mut out, &rows);
    memory_section(&mut out, d);
    out
}

fn compile_section(out: &mut String, rows: &[(&StatKey, &Stat)]) {
    if rows.is_empty() {
        return;
    }
    // Passes run inside a compile; counting both would count that time twice.
    let total: u64 = rows
        .iter()
        .filter(|(k, _)| k.0 != EventKind::Pass)
        .map(|(_, s)| s.total_ns)
        .sum();
    let _ = writeln!(out, "\n-- compile: {} --", human_time(total as f64));
    let mut t = Table::new(&["Name", "Calls", "Total", "Mean"]);
    // Tracing and compiles first, their passes after, each by time.
    for pass in [false, true] {
        for (k, s) in rows
            .iter()
            .filter(|(k, _)| (k.0 == EventKind::Pass) == pass)
        {
            t.row(vec![
                format!("{} {}", k.0, k.1),
                s.calls.to_string(),
                human_time(s.total_ns as f64),
                human_time(mean(s)),
            ]);
        }
    }
    t.write(out);
}

fn run_section(out: &mut String, rows: &[(&StatKey, &Stat)]) {
    if rows.is_empty() {
        return;
    }
    let total: u64 = rows.iter().map(|(_, s)| s.total_ns).sum();
    let _ = writeln!(
        out,
        "\n-- run: {} in kernels, library calls, host calls and copies --",
        human_time(total as f64)
    );
    let mut t = Table::new(&[
        "Kernel / op",
        "Kind",
        "Calls",
        "Total",
        "Mean",
        "% run",
        "GB/s",
        "GFLOP/s",
        "Source",
    ]);
    for (k, s) in rows {
        // A copy's "source" is its cause; the copies section below has the details.
        let (name, source) = match k.0 {
            EventKind::Transfer => (
                format!("copy {}", k.1),
                k.2.as_deref().unwrap_or("").to_string(),
            ),
            _ => (k.1.to_string(), compact_locs(&s.locs)),
        };
        t.row(vec![
            name,
            k.0.to_string(),
            s.calls.to_string(),
            human_time(s.total_ns as f64),
            human_time(mean(s)),
            format!("{:.1}%", percent(s.total_ns, total)),
            format!("{:.2}", giga_per_second(s.bytes, s.total_ns)),
            format!("{:.2}", giga_per_second(s.flops, s.total_ns)),
            source,
        ]);
    }
    t.write(out);
}

fn copies_section(out: &mut String, rows: &[(&StatKey, &Stat)]) {
    if rows.is_empty() {
        return;
    }
    let bytes: u64 = rows.iter().map(|(_, s)| s.bytes).sum();
    let calls: u64 = rows.iter().map(|(_, s)| s.calls).sum();
    let _ = writeln!(out, "\n-- copies: {calls} moving {} --", human_bytes(bytes));
    let mut t = Table::new(&[
        "Direction",
        "Device",
        "Cause",
        "Calls",
        "Bytes",
        "Total",
        "GB/s",
    ]);
    for (k, s) in rows {
        t.row(vec![
            s.direction
                .map_or(k.1.to_string(), |d| d.name().to_string()),
            s.device.to_string(),
            k.2.as_deref().unwrap_or("").to_string(),
            s.calls.to_string(),
            human_bytes(s.bytes),
            human_time(s.total_ns as f64),
            format!("{:.2}", giga_per_second(s.bytes, s.total_ns)),
        ]);
    }
    t.write(out);
}

fn calls_section(out: &mut String, rows: &[(&StatKey, &Stat)]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n-- calls of jitted functions --");
    let mut t = Table::new(&["Function", "Calls", "Total", "Mean", "Min", "Max"]);
    for (k, s) in rows {
        t.row(vec![
            k.1.to_string(),
            s.calls.to_string(),
            human_time(s.total_ns as f64),
            human_time(mean(s)),
            human_time(s.min_ns as f64),
            human_time(s.max_ns as f64),
        ]);
    }
    t.write(out);
}

fn cache_section(out: &mut String, rows: &[(&StatKey, &Stat)]) {
    let mut names: Vec<&str> = rows
        .iter()
        .filter(|(k, _)| matches!(k.0, EventKind::CacheHit | EventKind::CacheMiss))
        .map(|(k, _)| &*k.1)
        .collect();
    let mut reasons: Vec<(&StatKey, &Stat)> = rows
        .iter()
        .filter(|(k, _)| matches!(k.0, EventKind::Retrace | EventKind::Fallback))
        .copied()
        .collect();
    if names.is_empty() && reasons.is_empty() {
        return;
    }
    names.sort_unstable();
    names.dedup();
    reasons.sort_by(|a, b| a.0.cmp(b.0));
    let _ = writeln!(out, "\n-- cache --");
    let count = |kind: EventKind, name: &str| -> u64 {
        rows.iter()
            .filter(|(k, _)| k.0 == kind && &*k.1 == name)
            .map(|(_, s)| s.calls)
            .sum()
    };
    for name in names {
        let _ = writeln!(
            out,
            "  {name}: {} hit(s), {} miss(es), {} retrace(s), {} fallback(s)",
            count(EventKind::CacheHit, name),
            count(EventKind::CacheMiss, name),
            count(EventKind::Retrace, name),
            count(EventKind::Fallback, name),
        );
    }
    for (k, s) in reasons {
        let times = if s.calls > 1 {
            format!(" (x{})", s.calls)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {} {}: {}{times}",
            k.0,
            k.1,
            k.2.as_deref().unwrap_or("no reason recorded")
        );
    }
}

fn memory_section(out: &mut String, d: &SessionData) {
    if d.memory.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n-- memory --");
    for (device, m) in &d.memory {
        let _ = writeln!(
            out,
            "  {device}: peak {}, {} allocation(s), {} allocated, {} still held",
            human_bytes(m.peak),
            m.allocs,
            human_bytes(m.allocated),
            human_bytes(m.current),
        );
    }
}

fn mean(s: &Stat) -> f64 {
    s.total_ns as f64 / s.calls.max(1) as f64
}

fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * part as f64 / total as f64
    }
}

/// A plain-text table with aligned columns.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, mut cells: Vec<String>) {
        if cells[0].chars().count() > NAME_WIDTH {
            let cut: String = cells[0].chars().take(NAME_WIDTH - 3).collect();
            cells[0] = cut + "...";
        }
        self.rows.push(cells);
    }

    fn write(&self, out: &mut String) {
        let n = self.header.len();
        let widths: Vec<usize> = (0..n)
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::from(" ");
            for (i, cell) in r.iter().enumerate() {
                let w = widths[i];
                if is_text_column(&self.header[i]) {
                    let _ = write!(line, "  {cell:<w$}");
                } else {
                    let _ = write!(line, "  {cell:>w$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// Text columns are left-aligned, numbers right-aligned.
fn is_text_column(header: &str) -> bool {
    matches!(
        header,
        "Name" | "Kernel / op" | "Kind" | "Function" | "Direction" | "Device" | "Cause" | "Source"
    )
}
