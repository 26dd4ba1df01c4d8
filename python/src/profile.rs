//! Bindings of `ember::profile` for `ember.profile()` (see `ember/_profile.py`): a session
//! handle, the clock, a way for Python to record its own events (calls, tracing, cache,
//! copies) into the same recorder, and the `EMBER_DEBUG` level.

use ember::ir::SourceLoc;
use ember::profile::{self, Direction, Event, EventKind, Profile, ProfileOptions};
use ember::Device;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::{Arc, Mutex, MutexGuard};

/// A profiling session, recording from construction until `stop()`.
#[pyclass(name = "Profiler", module = "ember._ember", frozen)]
pub struct PyProfiler {
    inner: Mutex<Profile>,
}

impl PyProfiler {
    fn profile(&self) -> PyResult<MutexGuard<'_, Profile>> {
        self.inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("profiler lock poisoned"))
    }
}

fn event_dict<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("kind", e.kind.name())?;
    d.set_item("name", &*e.name)?;
    d.set_item("start_ns", e.start_ns)?;
    d.set_item("duration_ns", e.dur_ns)?;
    d.set_item("thread", e.thread)?;
    d.set_item("device", e.device.to_string())?;
    d.set_item("stream", e.stream)?;
    d.set_item("bytes", e.bytes)?;
    d.set_item("flops", e.flops)?;
    d.set_item("direction", e.direction.map(Direction::name))?;
    d.set_item("reason", e.reason.as_deref())?;
    d.set_item("locations", e.loc_strings())?;
    d.set_item("launch_ns", e.launch_ns)?;
    Ok(d)
}

#[pymethods]
impl PyProfiler {
    /// Starts a session keeping up to `max_events_per_name` events per name as they are
    /// (later ones are sampled; the summary's aggregates stay exact).
    #[new]
    #[pyo3(signature = (max_events_per_name=1000))]
    fn new(max_events_per_name: usize) -> Self {
        PyProfiler {
            inner: Mutex::new(Profile::start_with(ProfileOptions {
                max_events_per_name,
            })),
        }
    }

    /// Stops recording (idempotent).
    fn stop(&self) -> PyResult<()> {
        self.profile()?.stop();
        Ok(())
    }

    /// Whether the session is recording.
    #[getter]
    fn active(&self) -> PyResult<bool> {
        Ok(self.profile()?.is_active())
    }

    /// Kept events as dicts, ordered by start (`start_ns` relative to the session's start).
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let events = self.profile()?.events();
        let dicts = events
            .iter()
            .map(|e| event_dict(py, e))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, dicts)
    }

    /// Events counted in the summary but sampled out of `events()` and the trace.
    #[getter]
    fn dropped_events(&self) -> PyResult<u64> {
        Ok(self.profile()?.dropped_events())
    }

    /// The summary table.
    fn summary(&self) -> PyResult<String> {
        Ok(self.profile()?.summary())
    }

    /// The Chrome trace-event JSON text.
    fn chrome_trace(&self) -> PyResult<String> {
        Ok(self.profile()?.chrome_trace())
    }

    /// Writes the Chrome trace to `path` (`OSError` on failure).
    fn export_chrome_trace(&self, path: std::path::PathBuf) -> PyResult<()> {
        self.profile()?.export_chrome_trace(path)?;
        Ok(())
    }

    /// Highest bytes allocated at once on `device` (`"cpu"`, `"cuda:0"`).
    fn peak_memory(&self, device: &str) -> PyResult<u64> {
        Ok(self.profile()?.peak_memory(parse_device(device)?))
    }
}

fn parse_device(s: &str) -> PyResult<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|i| i.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| PyValueError::new_err(format!("unknown device {s:?}"))),
    }
}

fn parse_loc(s: &str) -> SourceLoc {
    match s
        .rsplit_once(':')
        .and_then(|(f, l)| Some((f, l.parse().ok()?)))
    {
        Some((file, line)) => SourceLoc {
            file: Arc::from(file),
            line,
        },
        None => SourceLoc {
            file: Arc::from(s),
            line: 0,
        },
    }
}

/// The profiler clock in nanoseconds (the clock every event is timed with).
#[pyfunction]
fn _profile_now() -> u64 {
    profile::now_ns()
}

/// Records an event from Python. `kind` is an event kind name (`"call"`, `"trace"`,
/// `"cache_hit"`, `"transfer"`, ...), `start_ns` a `_profile_now()` reading, `locations`
/// `"file:line"` strings and `direction` one of `h2d`, `d2h`, `d2d`, `h2h`.
#[pyfunction]
#[pyo3(signature = (kind, name, start_ns, duration_ns=0, bytes=0, flops=0, reason=None, locations=None, direction=None, device="cpu"))]
#[allow(clippy::too_many_arguments)]
fn _profile_record(
    kind: &str,
    name: &str,
    start_ns: u64,
    duration_ns: u64,
    bytes: u64,
    flops: u64,
    reason: Option<&str>,
    locations: Option<Vec<String>>,
    direction: Option<&str>,
    device: &str,
) -> PyResult<()> {
    if !profile::enabled() {
        return Ok(());
    }
    let kind = EventKind::from_name(kind)
        .ok_or_else(|| PyValueError::new_err(format!("unknown event kind {kind:?}")))?;
    let mut e = Event::new(kind, name);
    e.start_ns = start_ns;
    e.dur_ns = duration_ns;
    e.bytes = bytes;
    e.flops = flops;
    e.reason = reason.map(Arc::from);
    e.device = parse_device(device)?;
    e.from_python = true;
    if let Some(locs) = locations {
        e.locs = locs.iter().map(|s| parse_loc(s)).collect();
    }
    if let Some(d) = direction {
        e.direction = Some(
            Direction::from_name(d)
                .ok_or_else(|| PyValueError::new_err(format!("unknown direction {d:?}")))?,
        );
    }
    profile::record(e);
    Ok(())
}

/// Records a finished call of the jitted function `name` that started at `start_ns`, after
/// a cache hit when `hit` (one crossing for the two events of every cached call).
#[pyfunction]
#[pyo3(signature = (name, start_ns, hit=false))]
fn _profile_call(name: &str, start_ns: u64, hit: bool) {
    if !profile::enabled() {
        return;
    }
    let name: Arc<str> = Arc::from(name);
    let mut e = Event::new(EventKind::CacheHit, name.clone());
    e.dur_ns = 0;
    e.start_ns = start_ns;
    e.from_python = true;
    if hit {
        profile::record(e.clone());
    }
    e.kind = EventKind::Call;
    e.dur_ns = profile::now_ns().saturating_sub(start_ns);
    profile::record(e);
}

/// The `EMBER_DEBUG` level, read once by the Rust side.
#[pyfunction]
fn _debug_level() -> u32 {
    profile::debug_level()
}

/// Adds the profiler's class and functions to the extension module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyProfiler>()?;
    m.add_function(wrap_pyfunction!(_profile_now, m)?)?;
    m.add_function(wrap_pyfunction!(_profile_record, m)?)?;
    m.add_function(wrap_pyfunction!(_profile_call, m)?)?;
    m.add_function(wrap_pyfunction!(_debug_level, m)?)?;
    Ok(())
}
