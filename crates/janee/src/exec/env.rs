//! Which environment variable names an env template may not set.

/// `GIT_*` names that only set commit identity; every other `GIT_*` is refused.
const GIT_ALLOWED: &[&str] = &[
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
];

/// Prefixes of refused names (compared in upper case).
const DANGEROUS_PREFIXES: &[&str] = &[
    // Dynamic loader: preload and library search (glibc, macOS).
    "LD_",
    "DYLD_",
    // Bash exported functions run code in every bash child.
    "BASH_FUNC_",
    // Interpreter start-up code, module paths and options.
    "PYTHON",
    "PERL",
    "RUBY",
    // npm configuration: script shell, registry (where the token goes), ...
    "NPM_CONFIG_",
    // Where tools read config, aliases and plugins from.
    "XDG_",
];

/// Refused names (compared in upper case).
const DANGEROUS_NAMES: &[&str] = &[
    // Set by the runner: where programs are found, the throwaway HOME.
    "PATH",
    "HOME",
    "TMPDIR",
    "TMP",
    "TEMP",
    // Shell start-up files, parsing and prompts that run code.
    "ENV",
    "BASH_ENV",
    "SHELL",
    "SHELLOPTS",
    "BASHOPTS",
    "IFS",
    "CDPATH",
    "GLOBIGNORE",
    "PS4",
    "PROMPT_COMMAND",
    "INPUTRC",
    "HISTFILE",
    // Programs other programs launch.
    "EDITOR",
    "VISUAL",
    "PAGER",
    "MANPAGER",
    "BROWSER",
    "LESSOPEN",
    "LESSCLOSE",
    "SSH_ASKPASS",
    // C library: charset modules, locales, tunables, resolver.
    "GCONV_PATH",
    "LOCPATH",
    "NLSPATH",
    "GLIBC_TUNABLES",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    "LOCALDOMAIN",
    "RES_OPTIONS",
    // Runtime options that load code.
    "NODE_OPTIONS",
    "NODE_PATH",
    "NODE_REPL_EXTERNAL_MODULE",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    // Trust anchors and TLS checks: a custom CA lets a proxy read the token.
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "CURL_HOME",
    // GitHub CLI: another host gets the token; config, debug output and launched programs.
    "GH_HOST",
    "GH_CONFIG_DIR",
    "GH_DEBUG",
    "GH_BROWSER",
    "GH_EDITOR",
    "GH_PAGER",
    "GH_PATH",
];

/// Whether an env template may never set `name`: names that load code into the child,
/// make it launch another program, send its credential elsewhere (proxies, hosts, trust
/// anchors), or undo the runner's isolation (`PATH`, `HOME`, `TMPDIR`). Every `GIT_*` name
/// except the commit identity ones is refused (`GIT_CONFIG_*`, `GIT_SSH_COMMAND`,
/// `GIT_ASKPASS`, `GIT_EXEC_PATH`, `GIT_DIR`, `GIT_TRACE*`, ...), as is every `*_PROXY`
/// except `NO_PROXY`. Compared case-insensitively; an empty name, or one containing `=` or
/// NUL, is refused too.
pub fn is_dangerous_env_name(name: &str) -> bool {
    if name.is_empty() || name.contains(['=', '\0']) {
        return true;
    }
    let name = name.to_ascii_uppercase();
    let name = name.as_str();
    if name.starts_with("GIT_") {
        return !GIT_ALLOWED.contains(&name);
    }
    DANGEROUS_NAMES.contains(&name)
        || DANGEROUS_PREFIXES.iter().any(|p| name.starts_with(p))
        || (name.ends_with("_PROXY") && name != "NO_PROXY")
}
