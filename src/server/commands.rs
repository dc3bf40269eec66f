//! A server version's command table (`COMMAND LIST`, measured by tests/gen-command-tables.sh)
//! and how Redis's `ACL SETUSER` looks a command rule up in it: the same in Redis 7.0 and 8.0
//! and Valkey 8.0 and 8.1 (a differential test replays a corpus of rules on each).

/// Every command and subcommand (`config|get`) of one server version in one mode (data
/// server or Sentinel), lowercase, one a line; `#` lines are comments.
#[derive(Debug, Clone, Copy)]
pub struct CommandTable(pub(crate) &'static str);

/// Why the server refuses a command rule (`+X`, `-X|Y`), and the nearest name it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub why: &'static str,
    pub nearest: Option<&'static str>,
}

impl Refused {
    /// What follows "Redis 7.0 has no such command" in a message: the supported versions
    /// that have it, else the nearest name (with the rule's `sign`), else nothing.
    pub fn hint(&self, sign: &str, plus: bool, body: &str, sentinel: bool) -> String {
        let knowing = super::versions_knowing(plus, body, sentinel);
        if !knowing.is_empty() {
            format!(
                " ({} {} it)",
                knowing.join(", "),
                if knowing.len() == 1 { "has" } else { "have" }
            )
        } else if let Some(n) = self.nearest {
            format!(" (nearest: {sign}{n})")
        } else {
            String::new()
        }
    }
}

impl CommandTable {
    /// The names, without comments.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        self.0
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    }

    /// Whether `name` (lowercase: `get`, `config|get`) is in the table. A scan, not a set:
    /// the gate calls this for every command rule of every user of every node.
    pub fn has(self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// Whether `base` is a container command (CONFIG, CLIENT): one with subcommands.
    fn has_subcommands(self, base: &str) -> bool {
        self.names()
            .any(|n| n.split_once('|').is_some_and(|(b, _)| b == base))
    }

    /// Judges the body of a command rule (`get`, `config|set`, `select|0`; lowercase, without
    /// its `+`/`-`) the way `ACL SETUSER` does:
    /// - `+X` and `-X`: X must be a command;
    /// - `-X|Y`: X|Y must be a subcommand (a first-arg rule cannot be revoked);
    /// - `+X|Y`: X must be a command. If X has subcommands, X|Y must be one; if not, Y is a
    ///   first argument (`+select|0`, deprecated but loaded). Y may not be empty, and a
    ///   subcommand takes no first argument (`+config|get|x`).
    pub fn judge(self, plus: bool, body: &str) -> Result<(), Refused> {
        let unknown = |what: &'static str, near: &str| Refused {
            why: what,
            nearest: self.nearest(near),
        };
        if !body.contains('|') || !plus {
            if self.has(body) {
                return Ok(());
            }
            return Err(match body.split_once('|') {
                Some((base, _)) if self.has(base) && !self.has_subcommands(base) => Refused {
                    why: "has no subcommands, and a first-argument rule can only be added with `+`, not taken away",
                    nearest: Some(self.names().find(|n| *n == base).unwrap_or_default()),
                },
                Some((base, _)) if self.has(base) => unknown("has no such subcommand", body),
                _ => unknown("has no such command", body),
            });
        }
        // `+X|Y`: the last `|` splits, as in Redis.
        let (base, sub) = body.rsplit_once('|').unwrap_or((body, ""));
        if base.contains('|') {
            return if self.has(base) {
                Err(Refused {
                    why: "allows no first argument of a subcommand",
                    nearest: self.names().find(|n| *n == base),
                })
            } else {
                Err(unknown("has no such subcommand", base))
            };
        }
        if !self.has(base) {
            return Err(unknown("has no such command", base));
        }
        if sub.is_empty() {
            return Err(Refused {
                why: "needs a subcommand (or first argument) after `|`",
                nearest: self.names().find(|n| *n == base),
            });
        }
        if self.has_subcommands(base) && !self.has(body) {
            return Err(unknown("has no such subcommand", body));
        }
        Ok(())
    }

    /// The known name closest to `name` by edit distance (a subcommand is compared with the
    /// subcommands of its command), when one is close enough to be a likely typo.
    pub fn nearest(self, name: &str) -> Option<&'static str> {
        // A subcommand is compared with its siblings, by the part after `|`.
        let (base, part) = match name.split_once('|') {
            Some((base, sub)) => (Some(base), sub),
            None => (None, name),
        };
        self.names()
            .filter_map(|n| match (base, n.split_once('|')) {
                (None, None) => Some((n, n)),
                (Some(b), Some((nb, sub))) if nb == b => Some((n, sub)),
                _ => None,
            })
            .map(|(n, p)| (edit_distance(part, p), n))
            .filter(|(d, _)| *d <= 2.max(part.len() / 3))
            .min()
            .map(|(_, n)| n)
    }
}

/// Levenshtein distance over bytes (names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: CommandTable =
        CommandTable("# comment\nconfig\nconfig|get\nconfig|set\nflushall\nget\nselect\nset\n");

    #[test]
    fn rules_are_judged_as_acl_setuser_does() {
        for ok in ["get", "config", "config|get", "select|0", "flushall|async"] {
            assert_eq!(T.judge(true, ok), Ok(()), "+{ok}");
        }
        for ok in ["get", "config", "config|get"] {
            assert_eq!(T.judge(false, ok), Ok(()), "-{ok}");
        }
        for (plus, bad, nearest) in [
            (true, "nonsensecmd", None),
            (false, "flushal", Some("flushall")),
            (true, "config|bogus", None),
            (true, "config|gte", Some("config|get")),
            (false, "config|bogus", None),
            (false, "select|0", Some("select")),
            (true, "config|get|x", Some("config|get")),
            (true, "config|", Some("config")),
            (true, "foo|bar", None),
            (true, "", None),
            (false, "", None),
            (true, "|get", None),
        ] {
            let r = T.judge(plus, bad);
            assert!(r.is_err(), "{plus} {bad:?}");
            assert_eq!(r.unwrap_err().nearest, nearest, "{plus} {bad:?}");
        }
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("flushal", "flushall"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "get"), 3);
    }
}
