//! Argon2id hashing, run on dedicated threads with a bound on concurrency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use argon2::password_hash::{Output, PasswordHash, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{oneshot, OnceCell};

/// Why a password could not be hashed or checked (a bug or a stopped
/// hashing thread, never the caller's input).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {why}")]
pub struct HashError {
    why: String,
    busy: bool,
}

impl HashError {
    fn internal(why: impl std::fmt::Display) -> Self {
        HashError {
            why: why.to_string(),
            busy: false,
        }
    }
    pub(crate) fn busy() -> Self {
        HashError {
            why: "the password-hash queue is full".into(),
            busy: true,
        }
    }
    /// Whether the hash was refused because the queue is full (nothing was
    /// queued; try again later).
    pub fn is_busy(&self) -> bool {
        self.busy
    }
}

/// Argon2id cost parameters. Defaults are OWASP's minimum (m=19 MiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    fn argon2(&self) -> Result<Argon2<'static>, argon2::Error> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Argon2 working memory of one hashing thread, reused across its hashes.
/// Allocating a fresh 19 MiB buffer per hash lets glibc keep freed buffers in
/// per-thread arenas, so server RSS grew to hundreds of MiB under sign-in
/// load (found by slipway-bench); one buffer per hashing thread is kept.
type Memory = Vec<Block>;

/// A hash to run on a hashing thread, with that thread's working memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Hashes and verifies passwords off the async executor.
///
/// `max_concurrent_hashes` OS threads take jobs from one queue in turn, so
/// at most that many hashes run at once and a thread that finishes a hash
/// starts the next at once. (With a semaphore and `spawn_blocking`, each
/// hash waited for an async round trip to be handed its thread; the sign-in
/// benchmark measured 88 % of raw hashing that way and 94-95 % this way.)
/// The threads stop when the last clone of the `Hasher` is dropped.
#[derive(Clone)]
pub(crate) struct Hasher {
    params: Argon2Params,
    jobs: mpsc::Sender<Job>,
    dummy: Arc<OnceCell<String>>,
    /// Hashes queued or running now.
    queued: Arc<AtomicUsize>,
    /// The most that may be queued or running; beyond it a hash is refused
    /// at once ([`HashError::is_busy`]).
    max_queued: usize,
}

/// A place in the hash queue, given back when dropped (after the job ran,
/// or with the job when it is skipped or never sent).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts `n` hashing threads sharing one job queue.
fn start_threads(n: usize) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..n.max(1) {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("slipway-argon2-{i}"))
            .spawn(move || {
                let mut memory = Memory::new();
                // `None` once every sender is gone.
                while let Some(job) = next_job(&rx, &mut memory) {
                    let run = std::panic::AssertUnwindSafe(|| job(&mut memory));
                    if std::panic::catch_unwind(run).is_err() {
                        // The caller sees its answer channel closed (a 500);
                        // start over with fresh memory (the old one wiped
                        // first: freeing does not clear it).
                        wipe(&mut memory);
                        memory = Memory::new();
                    }
                }
            })?;
    }
    Ok(tx)
}

/// The next job for a hashing thread. A job already queued is taken at
/// once: Argon2 writes each block it uses before reading it, so the next
/// hash never reads the previous one's blocks and overwrites them as it
/// goes. When none is queued, `memory` is wiped before the thread waits
/// (outside the queue's lock), so no password-derived block stays in the
/// process once hashing stops, nor after the thread ends (`None`: every
/// sender is gone).
///
/// Wiping after every hash instead cost ~7 % of a busy server's CPU
/// (BENCHMARKS.md, sixteenth run): 19 MiB written per hash, while the next
/// hash was about to overwrite it anyway.
fn next_job(rx: &Mutex<mpsc::Receiver<Job>>, memory: &mut Memory) -> Option<Job> {
    let lock = || rx.lock().unwrap_or_else(|p| p.into_inner());
    let queued = lock().try_recv();
    if let Ok(job) = queued {
        return Some(job);
    }
    wipe(memory);
    // The lock is held only while waiting for the next job.
    lock().recv().ok()
}

/// Zeroes every block of `memory`. This compiles to plain `memset`s over the
/// contiguous buffer (the sign-in benchmark measured it faster than copying
/// an empty `Block` into every element). The next hash reads the buffer, so
/// the wipe is not elided.
fn wipe(memory: &mut Memory) {
    for block in memory.iter_mut() {
        block.as_mut().fill(0);
    }
}

/// Computes a raw Argon2 output into `out` with the thread's working memory
/// (wiped by [`next_job`] when the thread goes idle).
fn compute(
    argon: &Argon2<'_>,
    memory: &mut Memory,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let need = argon.params().block_count();
    if memory.len() < need {
        *memory = vec![Block::new(); need];
    }
    argon.hash_password_into_with_memory(password, salt, out, &mut memory[..need])
}

fn phc_hash(argon: &Argon2<'_>, memory: &mut Memory, password: &[u8]) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| e.to_string())?;
    let mut out = [0u8; 32];
    compute(argon, memory, password, salt_bytes, &mut out).map_err(|e| e.to_string())?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: argon
            .params()
            .try_into()
            .map_err(|e: argon2::password_hash::Error| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(hash.to_string())
}

/// Checks `password` against a PHC string in constant time. Argon2id hashes
/// use the thread's memory; anything else falls back to the crate's verifier.
fn phc_verify(memory: &mut Memory, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Argon2::default().verify_password(password, &parsed).is_ok();
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let argon = Argon2::new(Algorithm::Argon2id, version, params);
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if compute(&argon, memory, password, salt_bytes, &mut out).is_err() {
        return false;
    }
    bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

impl Hasher {
    /// Checks the parameters and starts `max_concurrent` hashing threads;
    /// at most `max_queued` hashes may be queued or running at once.
    pub(crate) fn new(
        params: Argon2Params,
        max_concurrent: usize,
        max_queued: usize,
    ) -> Result<Self, String> {
        params.argon2().map_err(|e| e.to_string())?;
        let jobs = start_threads(max_concurrent)
            .map_err(|e| format!("could not start the password hashing threads: {e}"))?;
        Ok(Self {
            params,
            jobs,
            dummy: Arc::new(OnceCell::new()),
            queued: Arc::new(AtomicUsize::new(0)),
            max_queued: max_queued.max(1),
        })
    }

    /// Takes a place in the queue, or `None` when it is full.
    fn slot(&self) -> Option<Slot> {
        let now = self.queued.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(self.queued.clone());
        (now < self.max_queued).then_some(slot)
    }

    /// Runs `f` on a hashing thread. A job whose caller has gone away (the
    /// request was dropped) before a thread takes it is skipped, so
    /// abandoned sign-ins do not cost a hash.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Argon2<'static>, &mut Memory) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let argon = self.params.argon2().map_err(HashError::internal)?;
        let slot = self.slot().ok_or_else(HashError::busy)?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            crate::metrics::hash_dequeued();
            if tx.is_closed() {
                return; // the slot goes with the skipped job
            }
            let out = f(argon, memory);
            // The place is free before the caller sees the answer.
            drop(slot);
            let _ = tx.send(out);
        });
        crate::metrics::hash_queued();
        self.jobs.send(job).map_err(|_| {
            crate::metrics::hash_dequeued();
            HashError::internal("the password hashing threads have stopped")
        })?;
        rx.await
            .map_err(|_| HashError::internal("a password hashing thread failed"))
    }

    /// A PHC string for `password`.
    pub(crate) async fn hash(&self, password: String) -> Result<String, HashError> {
        let password = zeroize::Zeroizing::new(password);
        self.blocking(move |argon, memory| phc_hash(&argon, memory, password.as_bytes()))
            .await?
            .map_err(HashError::internal)
    }

    /// Verifies `password` against a PHC string. With `None` (unknown user) it
    /// verifies against a dummy hash so both paths cost the same, then fails.
    pub(crate) async fn verify(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, HashError> {
        let known = phc.is_some();
        let phc = match phc {
            Some(p) => p,
            None => self.dummy_hash().await?,
        };
        let password = zeroize::Zeroizing::new(password);
        let ok = self
            .blocking(move |_, memory| phc_verify(memory, password.as_bytes(), &phc))
            .await?;
        Ok(ok && known)
    }

    async fn dummy_hash(&self) -> Result<String, HashError> {
        self.dummy
            .get_or_try_init(|| self.hash(crate::crypto::random_token(24)))
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use argon2::password_hash::PasswordHasher as _;

    use super::*;

    fn small() -> Argon2Params {
        Argon2Params {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn wiped(memory: &Memory) -> bool {
        memory.iter().all(|b| b.as_ref().iter().all(|w| *w == 0))
    }

    /// A hashing thread wipes its working memory before it waits for work
    /// (and before it ends): no password-derived block stays in the process
    /// while it is idle. With a job queued, the next hash overwrites it.
    #[test]
    fn working_memory_is_wiped_when_the_thread_goes_idle() {
        let mut memory = Memory::new();
        let argon = small().argon2().unwrap();
        let mut out = [0u8; 32];
        compute(&argon, &mut memory, b"password", b"saltsaltsalt", &mut out).unwrap();
        assert_ne!(out, [0u8; 32]);
        assert_eq!(memory.len(), 256);
        assert!(!wiped(&memory), "the hash left its blocks");

        // A job is waiting: taken at once, the memory left for it to overwrite.
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Mutex::new(rx);
        tx.send(Box::new(|_| {})).unwrap();
        assert!(next_job(&rx, &mut memory).is_some());
        assert!(!wiped(&memory));

        // Nothing waiting: wiped before waiting. The wait here ends at once
        // because every sender is gone, which also ends the thread.
        drop(tx);
        assert!(next_job(&rx, &mut memory).is_none());
        assert!(wiped(&memory));

        // The same while a sender is still there: a job sent while the
        // thread waits finds the memory already wiped.
        compute(&argon, &mut memory, b"password", b"saltsaltsalt", &mut out).unwrap();
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Mutex::new(rx);
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            tx.send(Box::new(|_| {})).unwrap();
        });
        assert!(next_job(&rx, &mut memory).is_some());
        assert!(wiped(&memory));
        sender.join().unwrap();
    }

    #[test]
    fn hashes_interoperate_with_the_crates_own_verifier() {
        let mut memory = Memory::new();
        let argon = small().argon2().unwrap();
        let phc = phc_hash(&argon, &mut memory, b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(argon.verify_password(b"correct horse", &parsed).is_ok());
        assert!(phc_verify(&mut memory, b"correct horse", &phc));
        assert!(!phc_verify(&mut memory, b"wrong horse", &phc));

        // A hash made by the crate itself (other parameters) verifies too.
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let other = Argon2Params {
            memory_kib: 512,
            ..small()
        }
        .argon2()
        .unwrap();
        let theirs = other.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(phc_verify(&mut memory, b"pw", &theirs));
        assert!(!phc_verify(&mut memory, b"pw2", &theirs));
        assert!(!phc_verify(&mut memory, b"pw", "not a phc string"));
    }

    /// At most `max_concurrent` jobs run at once, every job answers, and a
    /// job that panics costs its caller an error, not a thread.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn threads_bound_concurrency_and_survive_a_panic() {
        let hasher = Hasher::new(small(), 2, 64).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let calls = (0..12).map(|i| {
            let (running, most) = (running.clone(), most.clone());
            let hasher = hasher.clone();
            async move {
                hasher
                    .blocking(move |_, _| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        i
                    })
                    .await
                    .unwrap()
            }
        });
        let answers = futures::future::join_all(calls).await;
        assert_eq!(answers, (0..12).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 2, "two threads, both used");

        assert!(hasher.blocking(|_, _| panic!("boom")).await.is_err());
        assert!(hasher.blocking(|_, _| panic!("boom")).await.is_err());
        // Both threads are still there.
        let phc = hasher.hash("pw".to_string()).await.unwrap();
        assert!(hasher.verify("pw".into(), Some(phc.clone())).await.unwrap());
        assert!(!hasher.verify("nope".into(), Some(phc)).await.unwrap());
    }

    /// Beyond `max_queued` hashes queued or running, a hash is refused at
    /// once (busy); the place is given back when a job finishes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once() {
        let hasher = Hasher::new(small(), 1, 2).unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        // Two jobs: one runs (blocked until released), one waits.
        let held: Vec<_> = (0..2)
            .map(|_| {
                let hasher = hasher.clone();
                let rx = release_rx.clone();
                tokio::spawn(async move {
                    hasher
                        .blocking(move |_, _| {
                            let _ = rx.lock().unwrap().recv();
                        })
                        .await
                })
            })
            .collect();
        while hasher.queued.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let refused = hasher.hash("pw".to_string()).await.unwrap_err();
        assert!(refused.is_busy(), "{refused}");
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        for h in held {
            h.await.unwrap().unwrap();
        }
        assert_eq!(hasher.queued.load(Ordering::SeqCst), 0);
        hasher.hash("pw".to_string()).await.unwrap();
    }

    /// A job whose caller went away before a thread took it is not run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_jobs_are_skipped() {
        let hasher = Hasher::new(small(), 1, 64).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        // Occupy the only thread, then queue a job and drop its caller.
        let busy = {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                hasher
                    .blocking(|_, _| std::thread::sleep(Duration::from_millis(200)))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let counted = ran.clone();
        let abandoned = hasher.blocking(move |_, _| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let _ = tokio::time::timeout(Duration::from_millis(10), abandoned).await;
        busy.await.unwrap().unwrap();
        // A later job runs; the abandoned one never did.
        let counted = ran.clone();
        hasher
            .blocking(move |_, _| {
                counted.fetch_add(10, Ordering::SeqCst);
            })
            .await
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 10);
    }
}
