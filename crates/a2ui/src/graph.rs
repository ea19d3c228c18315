//! The component graph check: no cycle, no chain deeper than a limit. Iterative, for any size.
//!
//! Nodes are `0..n` (the store numbers a surface's components in first-defined order); an edge
//! `u -> v` is a child reference from `u` to a defined component `v` (references to components not
//! defined yet are `pending`, not edges). The walk is a depth-first search with an explicit stack:
//! a 100,000-node chain costs memory, never stack.
//!
//! Depth counts components along child references: a node with no children has height 1, and
//! `root`'s height is the depth of the tree (root is depth 1). Every node's height must be at most
//! `max_depth`, not only root's: a fragment not yet attached under root can only get deeper when
//! it is attached.

/// What [`check_graph`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphFault {
    /// A cycle: the nodes in order, each referring to the next and the last to the first.
    Cycle(Vec<usize>),
    /// A chain of `max_depth + 1` nodes, each referring to the next, starting at the node with the
    /// greatest height (the lowest-numbered one among equals).
    TooDeep(Vec<usize>),
}

const WHITE: u8 = 0;
const GRAY: u8 = 1;
const BLACK: u8 = 2;

/// Checks the graph whose node `u` refers to `children[u]` (indices `>= children.len()` are
/// ignored). Finds a cycle if there is any; otherwise computes every node's height and refuses
/// the tallest if it is over `max_depth`.
pub fn check_graph(children: &[Vec<usize>], max_depth: usize) -> Result<(), GraphFault> {
    let heights = heights(children)?;
    let Some((start, &tallest)) = heights.iter().enumerate().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
    else {
        return Ok(());
    };
    if tallest <= max_depth {
        return Ok(());
    }
    Err(GraphFault::TooDeep(chain(children, &heights, start, max_depth + 1)))
}

/// Every node's height, or the first cycle found.
fn heights(children: &[Vec<usize>]) -> Result<Vec<usize>, GraphFault> {
    let n = children.len();
    let mut state = vec![WHITE; n];
    let mut height = vec![0usize; n];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for start in 0..n {
        if state[start] != WHITE {
            continue;
        }
        state[start] = GRAY;
        stack.push((start, 0));
        while let Some(top) = stack.last_mut() {
            let (u, next) = *top;
            let Some(&v) = children[u].get(next) else {
                height[u] = 1 + children[u].iter().filter(|&&c| c < n).map(|&c| height[c]).max().unwrap_or(0);
                state[u] = BLACK;
                stack.pop();
                continue;
            };
            top.1 += 1;
            if v >= n {
                continue;
            }
            match state[v] {
                WHITE => {
                    state[v] = GRAY;
                    stack.push((v, 0));
                }
                GRAY => return Err(GraphFault::Cycle(cycle(&stack, v))),
                _ => {}
            }
        }
    }
    Ok(height)
}

/// The cycle closed by an edge from the top of `stack` back to `v`, which is on the stack.
fn cycle(stack: &[(usize, usize)], v: usize) -> Vec<usize> {
    let from = stack.iter().position(|&(u, _)| u == v).unwrap_or(0);
    stack[from..].iter().map(|&(u, _)| u).collect()
}

/// `len` nodes from `start`, each step to the child of greatest height.
fn chain(children: &[Vec<usize>], heights: &[usize], start: usize, len: usize) -> Vec<usize> {
    let n = children.len();
    let mut out = vec![start];
    let mut u = start;
    while out.len() < len {
        let Some(&next) = children[u].iter().filter(|&&c| c < n).max_by_key(|&&c| heights[c]) else { break };
        out.push(next);
        u = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain_of(n: usize) -> Vec<Vec<usize>> {
        (0..n).map(|i| if i + 1 < n { vec![i + 1] } else { vec![] }).collect()
    }

    #[test]
    fn empty_and_single_nodes_pass() {
        assert_eq!(check_graph(&[], 1), Ok(()));
        assert_eq!(check_graph(&[vec![]], 1), Ok(()));
    }

    #[test]
    fn a_chain_at_the_limit_passes_and_one_more_fails() {
        assert_eq!(check_graph(&chain_of(50), 50), Ok(()));
        let Err(GraphFault::TooDeep(c)) = check_graph(&chain_of(51), 50) else { panic!("too deep") };
        assert_eq!(c, (0..51).collect::<Vec<_>>());
    }

    #[test]
    fn self_loop_and_two_cycle_are_found() {
        assert_eq!(check_graph(&[vec![0]], 50), Err(GraphFault::Cycle(vec![0])));
        assert_eq!(check_graph(&[vec![1], vec![0]], 50), Err(GraphFault::Cycle(vec![0, 1])));
    }

    #[test]
    fn shared_children_are_not_cycles() {
        // a diamond: 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3
        assert_eq!(check_graph(&[vec![1, 2], vec![3], vec![3], vec![]], 3), Ok(()));
        assert!(matches!(
            check_graph(&[vec![1, 2], vec![3], vec![3], vec![]], 2),
            Err(GraphFault::TooDeep(_))
        ));
    }

    #[test]
    fn out_of_range_children_are_ignored() {
        assert_eq!(check_graph(&[vec![7]], 1), Ok(()));
    }
}
