//! A thread pool started once per process (`available_parallelism` threads counting the
//! caller, or `EMBER_NUM_THREADS`) that runs one data-parallel job at a time: the job is split
//! into chunks handed out through an atomic counter, the calling thread works too, and the
//! call returns when every chunk is done. A caller that finds the pool busy (another thread's
//! job, or a kernel launched from inside a job) runs its chunks itself instead of waiting.
//!
//! *Waking costs.* Waking a sleeping worker takes tens of microseconds on a virtual machine
//! (the idle vCPU is halted), longer than a 100k-element kernel. So the caller waits for the
//! chunks to be *done*, not for every worker to have seen the job: a worker that wakes after
//! the caller took the last chunk finds nothing and never touches the job's closure. And a
//! worker spins for [`SPIN`] after a job before it sleeps, so the kernels of one jitted call
//! and back-to-back calls find it awake.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a worker (and a caller waiting for workers' chunks) spins before it sleeps.
pub const SPIN: Duration = Duration::from_micros(100);

type JobFn = dyn Fn(usize) + Sync;

struct Job {
    /// Points at a closure on the caller's stack, alive until `done` reaches `chunks` (the
    /// caller blocks until then). Only the claimant of a chunk dereferences it, before
    /// counting that chunk done.
    f: *const JobFn,
    chunks: usize,
    /// The next chunk to claim.
    next: AtomicUsize,
    /// Chunks finished.
    done: AtomicUsize,
}

// SAFETY: the pointee is `Sync` and outlives every use (see `Job::f`).
unsafe impl Send for Job {}
// SAFETY: as above.
unsafe impl Sync for Job {}

impl Job {
    /// Claims and runs chunks until none is left; the thread that finishes the last one wakes
    /// a sleeping caller.
    fn work(&self, shared: &Shared) {
        loop {
            let c = self.next.fetch_add(1, Ordering::Relaxed);
            if c >= self.chunks {
                return;
            }
            // SAFETY: chunk `c` is claimed and not yet counted done, so the caller is still
            // waiting and the closure alive (see `Job::f`).
            let f = unsafe { &*self.f };
            // A panic in generated code cannot happen (it has no panics); a panic in an
            // extern helper would leave the chunk uncounted and the caller waiting forever,
            // so helpers never panic.
            f(c);
            if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.chunks {
                let _st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                shared.done.notify_all();
            }
        }
    }
}

struct State {
    job: Option<Arc<Job>>,
}

struct Shared {
    state: Mutex<State>,
    /// Bumped under `state` for each job; read without the lock by spinning workers.
    generation: AtomicU64,
    work: Condvar,
    done: Condvar,
}

/// The process-wide pool.
pub struct Pool {
    shared: Arc<Shared>,
    workers: usize,
    busy: Mutex<()>,
}

/// Threads from `EMBER_NUM_THREADS` (a positive integer), if set.
fn threads_from_env() -> Option<usize> {
    let v = std::env::var("EMBER_NUM_THREADS").ok()?;
    v.trim().parse::<usize>().ok().filter(|&n| n > 0)
}

impl Pool {
    /// The pool, started on first use: `EMBER_NUM_THREADS` threads when set (1 runs every
    /// kernel on the calling thread), else one per available core.
    pub fn global() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| {
            let n = threads_from_env()
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            Pool::new(n.saturating_sub(1))
        })
    }

    fn new(workers: usize) -> Pool {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { job: None }),
            generation: AtomicU64::new(0),
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
        // The guard is taken in its own statement: a `match` on `try_lock()` would keep the
        // lock for the whole match, so a one-chunk job run inline (a self-splitting kernel's
        // outer call) would hold it and its nested jobs would find the pool busy.
        let guard = if self.workers > 0 && chunks > 1 {
            self.busy.try_lock().ok()
        } else {
            None
        };
        let Some(guard) = guard else {
            (0..chunks).for_each(f);
            return;
        };
        // SAFETY: erasing the lifetime is sound because this function does not return before
        // every chunk is done, and only a chunk's claimant calls the closure (`Job::f`).
        let fp: *const JobFn =
            unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static JobFn>(f) };
        let job = Arc::new(Job {
            f: fp,
            chunks,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        });
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            st.job = Some(job.clone());
            self.shared.generation.fetch_add(1, Ordering::Release);
            self.shared.work.notify_all();
        }
        job.work(&self.shared);
        // Chunks still running on workers: spin a while (they are short), then sleep.
        let start = Instant::now();
        while job.done.load(Ordering::Acquire) < chunks {
            if start.elapsed() > SPIN {
                let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
                while job.done.load(Ordering::Acquire) < chunks {
                    st = self.shared.done.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                break;
            }
            std::hint::spin_loop();
        }
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .job = None;
        drop(guard);
    }
}

fn worker(s: Arc<Shared>) {
    let mut seen = 0u64;
    loop {
        // Spin a while for the next job (the next kernel of the same call, the next call),
        // then sleep.
        let start = Instant::now();
        while s.generation.load(Ordering::Acquire) == seen && start.elapsed() < SPIN {
            std::hint::spin_loop();
        }
        let job = {
            let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
            while s.generation.load(Ordering::Acquire) == seen {
                st = s.work.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            seen = s.generation.load(Ordering::Acquire);
            st.job.clone()
        };
        if let Some(job) = job {
            job.work(&s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// Every chunk runs exactly once, and `run` returns only after the slowest one finished,
    /// over many jobs back to back (workers awake, spinning) and after pauses (asleep).
    #[test]
    fn every_chunk_runs_once_and_run_waits_for_all() {
        let pool = Pool::new(3);
        for round in 0..200 {
            let chunks = 1 + round % 37;
            let hits: Vec<AtomicUsize> = (0..chunks).map(|_| AtomicUsize::new(0)).collect();
            let slow_done = AtomicBool::new(false);
            pool.run(chunks, &|c| {
                if c == chunks - 1 && round % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                    slow_done.store(true, Ordering::SeqCst);
                }
                hits[c].fetch_add(1, Ordering::SeqCst);
            });
            assert!(
                hits.iter().all(|h| h.load(Ordering::SeqCst) == 1),
                "round {round}"
            );
            if round % 10 == 0 {
                assert!(
                    slow_done.load(Ordering::SeqCst),
                    "returned before the slow chunk"
                );
            }
            if round % 50 == 0 {
                // Let the workers fall asleep.
                std::thread::sleep(SPIN * 3);
            }
        }
    }

    /// Jobs from several threads at once (one runs on the pool, the others inline) and a
    /// job started from inside a chunk (inline) all complete with the right sums.
    #[test]
    fn concurrent_and_nested_jobs_complete() {
        let pool = Arc::new(Pool::new(2));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let sum = AtomicUsize::new(0);
                        pool.run(16, &|c| {
                            let inner = AtomicUsize::new(0);
                            pool.run(4, &|d| {
                                inner.fetch_add(d + 1, Ordering::SeqCst);
                            });
                            sum.fetch_add(c + inner.load(Ordering::SeqCst), Ordering::SeqCst);
                        });
                        assert_eq!(sum.load(Ordering::SeqCst), 120 + 16 * 10, "thread {t}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("no panic");
        }
    }

    /// A one-chunk job runs inline without holding the pool, so the job it starts from
    /// inside runs on the workers (a self-splitting kernel's parts).
    #[test]
    fn a_one_chunk_job_leaves_the_pool_free_for_its_nested_job() {
        let pool = Pool::new(1);
        let main = std::thread::current().id();
        let elsewhere = AtomicUsize::new(0);
        pool.run(1, &|_| {
            pool.run(64, &|_| {
                std::thread::sleep(Duration::from_micros(200));
                if std::thread::current().id() != main {
                    elsewhere.fetch_add(1, Ordering::SeqCst);
                }
            });
        });
        assert!(
            elsewhere.load(Ordering::SeqCst) > 0,
            "nested chunks all ran inline"
        );
    }

    #[test]
    fn a_pool_without_workers_runs_inline() {
        let pool = Pool::new(0);
        assert_eq!(pool.threads(), 1);
        let n = AtomicUsize::new(0);
        pool.run(5, &|_| {
            n.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(n.load(Ordering::SeqCst), 5);
    }
}
