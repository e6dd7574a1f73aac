//! The path canonicaliser: never panics; whatever it accepts is idempotent, has no dot
//! segments and cannot climb out of the base path (checked inside `fuzz_one`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    janee::canon::fuzz_one(data);
});
