//! A thread pool started once per process (`available_parallelism` threads counting the
//! caller) that runs one data-parallel job at a time: the job is split into chunks handed out
//! through an atomic counter, the calling thread works too, and the call returns when every
//! chunk is done. A caller that finds the pool busy (another thread's job, or a kernel launched
//! from inside a job) runs its chunks itself instead of waiting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

type JobFn = dyn Fn(usize) + Sync;

struct Job {
    /// Points at a closure on the caller's stack, alive until `pending` reaches 0 (the caller
    /// blocks until then).
    f: *const JobFn,
    chunks: usize,
    next: Arc<AtomicUsize>,
}

// SAFETY: the pointee is `Sync` and outlives every use (see `Job::f`).
unsafe impl Send for Job {}
// SAFETY: as above.
unsafe impl Sync for Job {}

struct State {
    job: Option<Arc<Job>>,
    generation: u64,
    /// Workers still inside the current job.
    pending: usize,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
}

/// The process-wide pool.
pub struct Pool {
    shared: Arc<Shared>,
    workers: usize,
    busy: Mutex<()>,
}

impl Pool {
    /// The pool, started on first use.
    pub fn global() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            Pool::new(n.saturating_sub(1))
        })
    }

    fn new(workers: usize) -> Pool {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                job: None,
                generation: 0,
                pending: 0,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let mut started = 0;
        for i in 0..workers {
            let s = shared.clone();
            let ok = std::thread::Builder::new()
                .name(format!("ember-cpu-{i}"))
                .spawn(move || worker(s))
                .is_ok();
            // A thread that cannot start just makes the pool smaller.
            started += ok as usize;
        }
        Pool {
            shared,
            workers: started,
            busy: Mutex::new(()),
        }
    }

    /// Threads that work on a job, the caller included.
    pub fn threads(&self) -> usize {
        self.workers + 1
    }

    /// Runs `f(0) .. f(chunks - 1)`, spread over the pool; returns when all are done.
    pub fn run(&self, chunks: usize, f: &(dyn Fn(usize) + Sync)) {
        let guard = match self.busy.try_lock() {
            Ok(g) if self.workers > 0 && chunks > 1 => g,
            _ => {
                (0..chunks).for_each(f);
                return;
            }
        };
        let next = Arc::new(AtomicUsize::new(0));
        // SAFETY: erasing the lifetime is sound because this function does not return before
        // every worker has left the job (`pending == 0` below).
        let fp: *const JobFn =
            unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static JobFn>(f) };
        let job = Arc::new(Job {
            f: fp,
            chunks,
            next: next.clone(),
        });
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            st.job = Some(job);
            st.generation += 1;
            st.pending = self.workers;
            self.shared.work.notify_all();
        }
        loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            if c >= chunks {
                break;
            }
            f(c);
        }
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        while st.pending > 0 {
            st = self.shared.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.job = None;
        drop(guard);
    }
}

fn worker(s: Arc<Shared>) {
    let mut seen = 0u64;
    loop {
        let job = {
            let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
            while st.generation == seen {
                st = s.work.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            seen = st.generation;
            st.job.clone()
        };
        if let Some(job) = job {
            loop {
                let c = job.next.fetch_add(1, Ordering::Relaxed);
                if c >= job.chunks {
                    break;
                }
                // SAFETY: the caller keeps the closure alive until `pending` reaches 0,
                // which happens only after this loop.
                let f = unsafe { &*job.f };
                // A panic in generated code cannot happen (it has no panics); a panic in an
                // extern helper would abort the worker, which the caller would wait on
                // forever, so helpers never panic.
                f(c);
            }
        }
        let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
        st.pending = st.pending.saturating_sub(1);
        if st.pending == 0 {
            s.done.notify_all();
        }
    }
}
