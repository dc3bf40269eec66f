//! Where a key of a profile file is written: the line an error points at. Block-style YAML
//! (what people write) is walked by indentation; inside a flow value (`[a, b]`, `{k: v}`) the
//! line of the enclosing key is the best answer, and it is what is returned.

use std::io::Read;
use std::path::Path;

/// The path given for standard input (`--profile -`) and how errors name it.
pub const STDIN_ARG: &str = "-";
pub const STDIN_NAME: &str = "<stdin>";

/// The text of a profile file, or of standard input for `-`.
pub fn read_source(path: &Path) -> std::io::Result<String> {
    if path == Path::new(STDIN_NAME) {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

/// One step of a key path: a mapping key or a list index.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `acl.users[0].name` as steps.
fn steps(key: &str) -> Vec<Step<'_>> {
    let mut out = vec![];
    for part in key.split('.') {
        let (name, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Step::Key(name));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

/// A meaningful line: its 1-based number, the column its content starts at, and the content.
/// `- key: v` also yields the item's first key at the column after `- `.
fn content_lines(text: &str) -> Vec<(usize, usize, &str)> {
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') || content.starts_with("---") {
            continue;
        }
        out.push((i + 1, line.len() - content.len(), content));
    }
    out
}

fn key_of(content: &str) -> Option<&str> {
    let (key, _) = content.split_once(':')?;
    Some(key.trim().trim_matches(|c| c == '"' || c == '\''))
}

/// The 1-based line of `key` (e.g. `environments.staging.redis.port`) in `text`, or of the
/// deepest part of it that is written on a line of its own.
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let lines = content_lines(text);
    let mut found = None;
    // The block we search: lines from `start` whose column is greater than `parent`.
    let mut start = 0;
    let mut parent: Option<usize> = None;
    // Content of the line we stand on, when a `- key: v` item continues on it.
    let mut inline: Option<(usize, usize, &str)> = None;
    for step in steps(key) {
        let within = |col: usize| parent.is_none_or(|p| col > p);
        let mut hit = None;
        match step {
            Step::Key(k) => {
                let mut candidates: Vec<(usize, usize, &str, usize)> = vec![];
                if let Some((n, col, content)) = inline.take() {
                    candidates.push((n, col, content, start));
                }
                let mut child_col = None;
                for (j, &(n, col, content)) in lines.iter().enumerate().skip(start) {
                    if !within(col) {
                        break;
                    }
                    if *child_col.get_or_insert(col) != col {
                        continue;
                    }
                    candidates.push((n, col, content, j + 1));
                }
                if let Some(c) = candidates.into_iter().find(|c| key_of(c.2) == Some(k)) {
                    hit = Some(c);
                }
            }
            Step::Index(i) => {
                let mut child_col = None;
                let mut seen = 0;
                for (j, &(n, col, content)) in lines.iter().enumerate().skip(start) {
                    if !within(col) {
                        break;
                    }
                    if *child_col.get_or_insert(col) != col || !content.starts_with('-') {
                        continue;
                    }
                    if seen == i {
                        let rest = content[1..].trim_start();
                        let item_col = col + (content.len() - rest.len());
                        if !rest.is_empty() {
                            inline = Some((n, item_col, rest));
                        }
                        hit = Some((n, col, content, j + 1));
                        break;
                    }
                    seen += 1;
                }
            }
        }
        let Some((n, col, _, next)) = hit else {
            return found;
        };
        found = Some(n);
        start = next;
        parent = Some(col);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
version: 1
# a comment
environments:
  production:
    tls:
      hostnames: [a.example]
  staging:
    redis:
      port: 0
      bind:
        - 10.0.0.1
        - \"bad\"
    acl:
      users:
        - name: worker
          commands: [+@read]
        - name: Bad
          commands: [+@read]
";

    #[test]
    fn finds_keys_list_items_and_keys_inside_items() {
        assert_eq!(line_of(TEXT, "environments.staging.redis.port"), Some(9));
        assert_eq!(
            line_of(TEXT, "environments.staging.redis.bind[1]"),
            Some(12)
        );
        assert_eq!(
            line_of(TEXT, "environments.staging.acl.users[1].name"),
            Some(17)
        );
        assert_eq!(
            line_of(TEXT, "environments.staging.acl.users[1].commands"),
            Some(18)
        );
        assert_eq!(
            line_of(TEXT, "environments.staging.acl.users[0].commands"),
            Some(16)
        );
    }

    #[test]
    fn flow_values_and_missing_keys_fall_back_to_the_deepest_line_found() {
        assert_eq!(
            line_of(TEXT, "environments.production.tls.hostnames[0]"),
            Some(6)
        );
        assert_eq!(line_of(TEXT, "environments.production.redis.port"), Some(4));
        assert_eq!(line_of(TEXT, "environments.testing"), Some(3));
        // `port` under production's tls must not be found in staging's redis.
        assert_eq!(line_of(TEXT, "environments.production.tls.port"), Some(5));
    }
}
