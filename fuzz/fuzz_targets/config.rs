//! config.yaml parsing and validation: any text gives a config or a located error, never a
//! panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = janee::config::Config::parse(std::path::Path::new("config.yaml"), text);
    }
});
