//! Find the line of a key in block-style YAML, for error messages about values that parsed
//! but are wrong (an unknown service, a bad rule).

/// 1-based line of the deepest key of `path` that can be found; `None` if not even the first.
pub fn line_of(text: &str, path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for key in path {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if parent_indent.is_some_and(|p| indent <= p) && !trimmed.starts_with("- ") {
                break;
            }
            let entry = trimmed.strip_prefix("- ").unwrap_or(trimmed);
            let unquoted = entry.trim_start_matches(['"', '\'']);
            if let Some(rest) = unquoted.strip_prefix(key) {
                let rest = rest.trim_start_matches(['"', '\'']);
                if rest.starts_with(':') {
                    hit = Some((i, indent));
                    break;
                }
            }
            // `- name: key` in the list form of capabilities.
            if entry.strip_prefix("name:").map(str::trim) == Some(key) {
                hit = Some((i, indent));
                break;
            }
        }
        match hit {
            Some((i, indent)) => {
                found = Some(i + 1);
                start = i + 1;
                parent_indent = Some(indent);
            }
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys() {
        let t = "services:\n  a:\n    baseUrl: x\n  b:\n    baseUrl: y\ncapabilities:\n  - name: c\n    service: b\n";
        assert_eq!(line_of(t, &["services", "b", "baseUrl"]), Some(5));
        assert_eq!(line_of(t, &["capabilities", "c", "service"]), Some(8));
        assert_eq!(line_of(t, &["services", "zz"]), Some(1));
        assert_eq!(line_of(t, &["nope"]), None);
    }
}
