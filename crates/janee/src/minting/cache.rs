//! [`TokenCache`]: minted tokens by caller-chosen key, one mint at a time per key.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use super::{MintError, Minted};

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Minted tokens keyed by a caller-chosen string (e.g. `"service/capability"`).
///
/// [`get`](Self::get) returns the cached token unless it expires within `margin`.
/// Concurrent callers for one key share one mint: they queue on that key's lock, and those
/// that waited through a mint take its token, or its error, instead of minting again.
/// [`invalidate`](Self::invalidate) after an upstream 401 makes the next `get` mint afresh.
/// Keys are never evicted; they are expected to come from configuration.
pub struct TokenCache {
    margin: Duration,
    clock: Clock,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// One key's state.
#[derive(Default)]
struct Slot {
    /// Bumped by `invalidate`; an entry minted under an older epoch is stale.
    epoch: AtomicU64,
    /// Bumped (under `state`'s lock) whenever a mint finishes, so a caller that waited can
    /// tell a mint happened meanwhile.
    mints: AtomicU64,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    entry: Option<Entry>,
    /// The error of the last mint, handed to the callers that queued behind it.
    last_error: Option<MintError>,
}

struct Entry {
    token: Zeroizing<String>,
    expires_at: SystemTime,
    epoch: u64,
}

impl TokenCache {
    /// A cache that re-mints a token once it expires within `margin` (60 s is a good
    /// default: it covers clock skew and a request's own duration).
    pub fn new(margin: Duration) -> Self {
        Self::with_clock(margin, SystemTime::now)
    }

    /// [`new`](Self::new) with the wall clock replaced, for tests.
    pub(crate) fn with_clock(
        margin: Duration,
        clock: impl Fn() -> SystemTime + Send + Sync + 'static,
    ) -> Self {
        Self {
            margin,
            clock: Arc::new(clock),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The token for `key`: the cached one while it has more than `margin` left, else
    /// whatever `mint` produces (cached on success). `mint` runs at most once at a time per
    /// key. The cache keeps only the token and its expiry: a
    /// [`Minted::rotated_refresh_token`] must be written back by `mint` itself before it
    /// returns.
    pub async fn get<F, Fut>(&self, key: &str, mint: F) -> Result<Zeroizing<String>, MintError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Minted, MintError>>,
    {
        let slot = self.slot(key);
        let mints_before = slot.mints.load(Ordering::Acquire);
        let mut state = slot.state.lock().await;

        let epoch = slot.epoch.load(Ordering::Acquire);
        if let Some(entry) = &state.entry
            && entry.epoch == epoch
            && self.is_fresh(entry.expires_at)
        {
            return Ok(entry.token.clone());
        }
        if slot.mints.load(Ordering::Acquire) != mints_before
            && let Some(error) = &state.last_error
        {
            return Err(error.clone());
        }

        let result = mint().await;
        slot.mints.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(minted) => {
                let token = minted.token.clone();
                state.entry = Some(Entry {
                    token: minted.token,
                    expires_at: minted.expires_at,
                    epoch,
                });
                state.last_error = None;
                Ok(token)
            }
            Err(error) => {
                state.entry = None;
                state.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Forgets `key`'s token (after the upstream rejected it): the next `get` mints, even
    /// if a mint is in flight right now.
    pub fn invalidate(&self, key: &str) {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(key) {
            slot.epoch.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Forgets `key`'s token if it is still `refused`. Callers that saw one token rejected
    /// at the same time cause one mint between them, not one each: a mint in flight is
    /// waited for, and the token it brings is kept.
    pub async fn invalidate_token(&self, key: &str, refused: &str) {
        let slot = {
            let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            match slots.get(key) {
                Some(slot) => Arc::clone(slot),
                None => return,
            }
        };
        let mut state = slot.state.lock().await;
        if state
            .entry
            .as_ref()
            .is_some_and(|e| e.token.as_bytes() == refused.as_bytes())
        {
            state.entry = None;
        }
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slots.entry(key.to_owned()).or_default())
    }

    fn is_fresh(&self, expires_at: SystemTime) -> bool {
        expires_at
            .duration_since((self.clock)())
            .is_ok_and(|left| left > self.margin)
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("TokenCache")
            .field("margin", &self.margin)
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::AtomicUsize;

    use super::*;

    const T0: u64 = 1_800_000_000;

    fn minted(token: &str, expires_at: SystemTime) -> Minted {
        Minted {
            token: Zeroizing::new(token.to_owned()),
            expires_at,
            rotated_refresh_token: None,
        }
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    /// A cache whose clock reads `T0 + offset` seconds.
    fn cache_with_offset() -> (TokenCache, Arc<AtomicU64>) {
        let offset = Arc::new(AtomicU64::new(0));
        let clock = Arc::clone(&offset);
        let cache = TokenCache::with_clock(Duration::from_secs(60), move || {
            at(T0 + clock.load(Ordering::SeqCst))
        });
        (cache, offset)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_gets_share_one_mint() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(60)));
        let mints = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, mints) = (Arc::clone(&cache), Arc::clone(&mints));
            tasks.push(tokio::spawn(async move {
                cache
                    .get("svc/cap", || async {
                        mints.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(minted(
                            "tok-1",
                            SystemTime::now() + Duration::from_secs(3600),
                        ))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().as_str(), "tok-1");
        }
        assert_eq!(mints.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_gets_share_one_failure() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(60)));
        let mints = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, mints) = (Arc::clone(&cache), Arc::clone(&mints));
            tasks.push(tokio::spawn(async move {
                cache
                    .get("svc/cap", || async {
                        mints.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err(MintError::Network("down".into()))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(
                task.await.unwrap().unwrap_err(),
                MintError::Network("down".into())
            );
        }
        assert_eq!(mints.load(Ordering::SeqCst), 1);
        // A later caller, not queued behind that mint, tries again.
        let token = cache
            .get("svc/cap", || async {
                Ok(minted(
                    "tok-2",
                    SystemTime::now() + Duration::from_secs(3600),
                ))
            })
            .await
            .unwrap();
        assert_eq!(token.as_str(), "tok-2");
    }

    #[tokio::test]
    async fn reused_until_within_margin_of_expiry() {
        let (cache, offset) = cache_with_offset();
        let mints = AtomicUsize::new(0);
        let mint = |name: &'static str| {
            let mints = &mints;
            move || async move {
                mints.fetch_add(1, Ordering::SeqCst);
                Ok(minted(name, at(T0 + 120)))
            }
        };
        assert_eq!(cache.get("k", mint("a")).await.unwrap().as_str(), "a");
        offset.store(59, Ordering::SeqCst); // 61 s left > 60 s margin
        assert_eq!(cache.get("k", mint("b")).await.unwrap().as_str(), "a");
        assert_eq!(mints.load(Ordering::SeqCst), 1);
        offset.store(60, Ordering::SeqCst); // exactly the margin left: re-mint
        assert_eq!(cache.get("k", mint("c")).await.unwrap().as_str(), "c");
        assert_eq!(mints.load(Ordering::SeqCst), 2);
        // Other keys are independent.
        assert_eq!(cache.get("other", mint("d")).await.unwrap().as_str(), "d");
    }

    #[tokio::test]
    async fn invalidate_forces_a_fresh_mint() {
        let (cache, _offset) = cache_with_offset();
        let far = at(T0 + 3600);
        cache
            .get("k", || async { Ok(minted("a", far)) })
            .await
            .unwrap();
        let again = cache.get("k", || async { Ok(minted("b", far)) }).await;
        assert_eq!(again.unwrap().as_str(), "a");
        cache.invalidate("k");
        cache.invalidate("never-used"); // no-op
        let fresh = cache.get("k", || async { Ok(minted("c", far)) }).await;
        assert_eq!(fresh.unwrap().as_str(), "c");
        let cached = cache.get("k", || async { Ok(minted("d", far)) }).await;
        assert_eq!(cached.unwrap().as_str(), "c");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invalidate_during_a_mint_is_not_lost() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(60)));
        let far = SystemTime::now() + Duration::from_secs(3600);
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let minting = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                cache
                    .get("k", || async move {
                        started_tx.send(()).unwrap();
                        release_rx.await.unwrap();
                        Ok(minted("during", far))
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        cache.invalidate("k");
        release_tx.send(()).unwrap();
        assert_eq!(minting.await.unwrap().unwrap().as_str(), "during");
        let next = cache.get("k", || async { Ok(minted("after", far)) }).await;
        assert_eq!(next.unwrap().as_str(), "after");
    }

    #[tokio::test]
    async fn debug_shows_no_token() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let far = SystemTime::now() + Duration::from_secs(3600);
        let canary = "ghs_CANARYcanaryCANARY0123456789";
        cache
            .get("k", || async { Ok(minted(canary, far)) })
            .await
            .unwrap();
        let shown = format!("{cache:?} {:?}", minted(canary, far));
        assert!(!shown.contains(canary), "{shown}");
    }
}
