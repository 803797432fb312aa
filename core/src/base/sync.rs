//! Taking std locks, with one policy for a poisoned lock: take it over. Every critical section
//! in the proxy leaves its data consistent at each step, so the data behind a lock whose holder
//! panicked is still good; refusing it would turn one panicked thread into an outage.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`, taking it over if a holder panicked.
#[allow(clippy::disallowed_methods)]
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `l`, taking it over if a writer panicked.
#[allow(clippy::disallowed_methods)]
pub fn read<T: ?Sized>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `l`, taking it over if a holder panicked.
#[allow(clippy::disallowed_methods)]
pub fn write<T: ?Sized>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_mutex_is_still_readable() {
        let m = Arc::new(Mutex::new(7));
        let holder = Arc::clone(&m);
        let joined = std::thread::spawn(move || {
            let _guard = lock(&holder);
            panic!("poison the lock");
        })
        .join();
        assert!(joined.is_err());
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), 7);
    }

    #[test]
    fn a_poisoned_rwlock_is_still_readable_and_writable() {
        let l = Arc::new(RwLock::new(1));
        let holder = Arc::clone(&l);
        let joined = std::thread::spawn(move || {
            let _guard = write(&holder);
            panic!("poison the lock");
        })
        .join();
        assert!(joined.is_err());
        assert!(l.is_poisoned());
        *write(&l) += 1;
        assert_eq!(*read(&l), 2);
    }
}
