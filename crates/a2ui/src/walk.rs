//! Iterative walks over arbitrary JSON, and compact-JSON sizes.
//!
//! Nothing here recurses: a walk keeps its own stack of frames, so a value nested 10,000 (or
//! 10,000,000) levels deep costs heap, not stack. The path to the node being visited is the stack
//! itself, turned into a JSON Pointer only when a visit refuses.

use std::io;

use serde_json::Value;

use crate::Refusal;

/// One step of a path: an object key or an array index.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// The children of a node still to visit.
enum Children<'a> {
    Object(serde_json::map::Iter<'a>),
    Array(std::iter::Enumerate<std::slice::Iter<'a, Value>>),
    None,
}

impl<'a> Children<'a> {
    fn of(value: &'a Value) -> Self {
        match value {
            Value::Object(map) => Children::Object(map.iter()),
            Value::Array(items) => Children::Array(items.iter().enumerate()),
            _ => Children::None,
        }
    }

    fn next(&mut self) -> Option<(Seg<'a>, &'a Value)> {
        match self {
            Children::Object(it) => it.next().map(|(k, v)| (Seg::Key(k.as_str()), v)),
            Children::Array(it) => it.next().map(|(i, v)| (Seg::Index(i), v)),
            Children::None => None,
        }
    }
}

/// Visits every node of `root` depth-first, root first (depth 1). `visit` gets the node, its depth
/// and its parent's tag (`root_tag` for the root) and returns the node's own tag, or an error that
/// stops the walk and comes back with the JSON Pointer (relative to `root`) of the node.
pub(crate) fn walk<'a, T: Copy, E>(
    root: &'a Value,
    root_tag: T,
    mut visit: impl FnMut(&'a Value, usize, T) -> Result<T, E>,
) -> Result<(), (String, E)> {
    let tag = visit(root, 1, root_tag).map_err(|e| (String::new(), e))?;
    let mut frames = vec![(Children::of(root), tag)];
    let mut path: Vec<Seg<'a>> = Vec::new();
    while let Some((children, tag)) = frames.last_mut() {
        let tag = *tag;
        let Some((seg, child)) = children.next() else {
            frames.pop();
            path.pop();
            continue;
        };
        path.push(seg);
        match visit(child, frames.len() + 1, tag) {
            Ok(child_tag) => frames.push((Children::of(child), child_tag)),
            Err(e) => return Err((pointer(&path), e)),
        }
    }
    Ok(())
}

fn pointer(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Seg::Key(k) => push_escaped(&mut out, k),
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// Appends `key` to a JSON Pointer, escaping `~` and `/` (RFC 6901).
pub(crate) fn push_escaped(out: &mut String, key: &str) {
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// `base` + `/key`, escaped.
pub(crate) fn join(base: &str, key: &str) -> String {
    let mut out = String::with_capacity(base.len() + key.len() + 1);
    out.push_str(base);
    out.push('/');
    push_escaped(&mut out, key);
    out
}

/// The deepest nesting in `value` (a scalar is 1, `[1]` is 2), walking iteratively.
pub(crate) fn depth(value: &Value) -> usize {
    let mut max = 0;
    let _ = walk(value, (), |_, d, _| {
        max = max.max(d);
        Ok::<(), ()>(())
    });
    max
}

/// Refuses (rule `max_nesting`) a value nested deeper than `limit` levels; the path points at the
/// first node found below the limit.
pub(crate) fn check_nesting(value: &Value, limit: usize) -> Result<(), Refusal> {
    walk(value, (), |_, d, _| if d > limit { Err(()) } else { Ok(()) }).map_err(|(path, ())| {
        Refusal::new(path, "max_nesting", format!("JSON is nested more than {limit} levels deep here"))
    })
}

/// Counts bytes, refusing to count past a limit so that measuring a huge value stops early.
struct Counter {
    bytes: usize,
    limit: usize,
}

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len();
        if self.bytes > self.limit { Err(io::Error::other("over the limit")) } else { Ok(buf.len()) }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The size of `value`'s compact JSON, or `None` when it is over `limit` bytes. The serializer
/// recurses, so `value` must already have passed [`check_nesting`] (or be bounded by it).
pub(crate) fn compact_len_within(value: &Value, limit: usize) -> Option<usize> {
    let mut counter = Counter { bytes: 0, limit };
    serde_json::to_writer(&mut counter, value).ok().map(|()| counter.bytes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pointer_of_first_refused_node_is_escaped() {
        let v = json!({"a/b": [0, {"c~d": 1}]});
        let got = walk(&v, (), |v, _, _| if v == &json!(1) { Err(()) } else { Ok(()) });
        assert_eq!(got, Err(("/a~1b/1/c~0d".to_string(), ())));
    }

    #[test]
    fn depth_counts_levels() {
        assert_eq!(depth(&json!(1)), 1);
        assert_eq!(depth(&json!([1])), 2);
        assert_eq!(depth(&json!({"a": [{"b": {}}]})), 4);
    }

    #[test]
    fn nesting_limit_is_inclusive() {
        assert!(check_nesting(&json!([[1]]), 3).is_ok());
        let r = check_nesting(&json!([[[1]]]), 3).unwrap_err();
        assert_eq!((r.path.as_str(), r.rule), ("/0/0/0", "max_nesting"));
    }

    #[test]
    fn size_stops_at_the_limit() {
        let v = json!({"a": "bcd"});
        assert_eq!(compact_len_within(&v, 100), Some(11));
        assert_eq!(compact_len_within(&v, 11), Some(11));
        assert_eq!(compact_len_within(&v, 10), None);
    }
}
