//! CLI behaviour pinned by trycmd snapshots in `tests/cmd/`.

#[test]
fn cli_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    trycmd::TestCases::new()
        .register_bin("janee", std::path::Path::new(super::util::bin()))
        .env("JANEE_HOME", home.display().to_string())
        .env("JANEE_PASSPHRASE", super::util::PASSPHRASE)
        .env("JANEE_NO_KEYRING", "1")
        .env("SNAP_KEY", "sk_snapshot_0123456789")
        .env("COLUMNS", "100")
        .insert_var("[HOME]", home.display().to_string())
        .expect("var")
        .case("tests/cmd/*.toml")
        .case("tests/cmd/*.md");
}
