//! A bounded free list of reusable driver objects (the CUDA event pool).
//!
//! Creating a CUDA event is a driver call that allocates (`cuEventCreate`, a few
//! microseconds); recording an existing one again is cheap and overwrites its earlier state.
//! The profiler brackets every piece of device work with two events, so a call that launches
//! ten kernels would otherwise create and destroy twenty. [`Recycler`] keeps the objects a
//! caller gives back and hands them out again; it is generic so its bookkeeping is tested
//! without a GPU.

use std::sync::Mutex;

/// A thread-safe free list holding at most `capacity` idle objects.
#[derive(Debug)]
pub struct Recycler<T> {
    free: Mutex<Vec<T>>,
    capacity: usize,
}

impl<T> Recycler<T> {
    /// An empty free list that keeps at most `capacity` idle objects (more are dropped when
    /// given back, so a burst does not pin driver resources for the life of the device).
    pub fn new(capacity: usize) -> Self {
        Recycler {
            free: Mutex::new(Vec::new()),
            capacity,
        }
    }

    /// An idle object, or a new one from `make` when none is idle.
    pub fn take<E>(&self, make: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let idle = self.lock().pop();
        match idle {
            Some(t) => Ok(t),
            None => make(),
        }
    }

    /// Gives `item` back for reuse; it is dropped instead when the list is full.
    pub fn give(&self, item: T) {
        let mut free = self.lock();
        if free.len() < self.capacity {
            free.push(item);
        }
    }

    /// The number of idle objects.
    pub fn idle(&self) -> usize {
        self.lock().len()
    }

    /// The free list, even when a thread panicked while holding it (a `Vec` of idle
    /// objects is valid in every state a push or pop can leave it in).
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::Recycler;
    use std::cell::Cell;

    #[test]
    fn reuses_given_back_objects_before_making_new_ones() {
        let made = Cell::new(0);
        let make = || -> Result<u32, ()> {
            made.set(made.get() + 1);
            Ok(made.get())
        };
        let r = Recycler::new(4);
        let a = r.take(make).unwrap();
        let b = r.take(make).unwrap();
        assert_eq!((a, b, made.get()), (1, 2, 2));
        r.give(a);
        r.give(b);
        assert_eq!(r.idle(), 2);
        // Last in, first out: the most recently used object (warm in the driver) first.
        assert_eq!(r.take(make).unwrap(), 2);
        assert_eq!(r.take(make).unwrap(), 1);
        assert_eq!(r.take(make).unwrap(), 3);
        assert_eq!(made.get(), 3);
    }

    #[test]
    fn drops_objects_beyond_capacity() {
        let r = Recycler::new(2);
        for i in 0..5 {
            r.give(i);
        }
        assert_eq!(r.idle(), 2);
        assert_eq!(r.take(|| Err::<i32, _>("made")).unwrap(), 1);
    }

    #[test]
    fn a_failed_make_is_returned_and_leaves_the_list_alone() {
        let r: Recycler<u8> = Recycler::new(2);
        assert_eq!(
            r.take(|| Err("cuEventCreate failed")),
            Err("cuEventCreate failed")
        );
        assert_eq!(r.idle(), 0);
    }

    #[test]
    fn shared_between_threads() {
        let r = std::sync::Arc::new(Recycler::new(64));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let x = r.take(|| Ok::<_, ()>(t * 1000 + i)).unwrap();
                        r.give(x);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(r.idle() >= 1 && r.idle() <= 4);
    }
}
