//! The store file parser: arbitrary bytes give an error (damaged, newer format, missing key),
//! never a panic, and never a store that opens with a key it was not sealed under.
#![no_main]

use janee_vault::{KeyInputs, Store};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("store.janee");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = janee_vault::store::read_header(&path);
    let _ = janee_vault::store::record_names(&path);
    let inputs = KeyInputs {
        master_key: Some(zeroize::Zeroizing::new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into())),
        ..KeyInputs::none()
    };
    assert!(Store::open(&path, &inputs).is_err(), "random bytes opened as a store");
});
