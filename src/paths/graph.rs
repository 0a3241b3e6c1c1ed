//! The prerequisite graph: cycle detection over the catalog's declared
//! prerequisites, and the closure of what a learner still lacks for a
//! course, in an order that puts every prerequisite first.

use std::collections::{BTreeMap, HashMap};

/// A prerequisite cycle, as the course ids along it with the first repeated
/// at the end (`["a", "b", "a"]`: a needs b, b needs a). `None` when the
/// graph is acyclic. `prereqs` maps a course id to the ids it requires; ids
/// that are not keys (not in the catalog yet) end a walk. Deterministic:
/// courses are visited in id order.
pub fn find_cycle(prereqs: &HashMap<String, Vec<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let sorted: BTreeMap<&str, &Vec<String>> = prereqs.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut mark: HashMap<&str, Mark> = HashMap::new();
    for &start in sorted.keys() {
        if mark.contains_key(start) {
            continue;
        }
        // Iterative depth-first search: (course, next prerequisite to visit).
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        mark.insert(start, Mark::Open);
        while let Some(top) = stack.last_mut() {
            let (node, at) = *top;
            let needs = sorted.get(node).map_or(&[][..], |v| v.as_slice());
            if at == needs.len() {
                mark.insert(node, Mark::Done);
                stack.pop();
                continue;
            }
            top.1 += 1;
            let next = needs[at].as_str();
            match mark.get(next) {
                Some(Mark::Done) => {}
                Some(Mark::Open) => {
                    let from = stack
                        .iter()
                        .position(|(n, _)| *n == next)
                        .expect("open nodes are on the stack");
                    let mut cycle: Vec<String> = stack[from..].iter().map(|(n, _)| n.to_string()).collect();
                    cycle.push(next.to_string());
                    return Some(cycle);
                }
                None if sorted.contains_key(next) => {
                    mark.insert(next, Mark::Open);
                    stack.push((next, 0));
                }
                None => {}
            }
        }
    }
    None
}

/// The cycle `incoming` courses would close in a catalog whose courses
/// require `stored` (id → prerequisite ids), if any; `incoming` replace
/// stored courses of the same id.
pub fn cycle_with(
    mut stored: HashMap<String, Vec<String>>,
    incoming: &[crate::domain::Course],
) -> Option<Vec<String>> {
    for c in incoming {
        stored.insert(c.id.clone(), c.prerequisites.clone());
    }
    find_cycle(&stored)
}

/// Found a cycle while walking prerequisites by course index (the catalog
/// refuses cycles, so only a corrupted catalog gets here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleAt(pub u32);

/// What `goal` still needs: the courses of its prerequisite closure that
/// `owned` does not hold, `goal` included unless owned, each after all of
/// its own prerequisites (depth-first post-order, prerequisites visited in
/// the order `prereqs` lists them). `prereqs(i)` gives course i's
/// prerequisites that count (in the catalog and takeable).
pub fn missing_closure<'a>(
    goal: u32,
    prereqs: &impl Fn(u32) -> &'a [u32],
    owned: &impl Fn(u32) -> bool,
) -> Result<Vec<u32>, CycleAt> {
    let mut out = Vec::new();
    let mut open: Vec<u32> = Vec::new();
    let mut done: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let mut stack: Vec<(u32, usize)> = Vec::new();
    if owned(goal) {
        return Ok(out);
    }
    stack.push((goal, 0));
    open.push(goal);
    while let Some(top) = stack.last_mut() {
        let (node, at) = *top;
        let needs = prereqs(node);
        if at == needs.len() {
            stack.pop();
            open.pop();
            done.insert(node);
            out.push(node);
            continue;
        }
        top.1 += 1;
        let next = needs[at];
        if owned(next) || done.contains(&next) {
            continue;
        }
        if open.contains(&next) {
            return Err(CycleAt(next));
        }
        open.push(next);
        stack.push((next, 0));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn finds_a_cycle_and_names_it() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &["a"])]);
        assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
        let own = graph(&[("a", &["a"])]);
        assert_eq!(find_cycle(&own).unwrap(), ["a", "a"]);
    }

    #[test]
    fn a_diamond_and_unknown_ids_are_no_cycle() {
        // d needs b and c, both need a; x names a course not in the catalog.
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["a", "x"]), ("d", &["b", "c"])]);
        assert_eq!(find_cycle(&g), None);
        assert_eq!(find_cycle(&HashMap::new()), None);
    }

    #[test]
    fn the_closure_puts_prerequisites_first_and_skips_what_is_owned() {
        // 3 needs 1 and 2; 2 needs 0; 1 needs 0.
        let p: Vec<Vec<u32>> = vec![vec![], vec![0], vec![0], vec![1, 2]];
        let pre = |i: u32| p[i as usize].as_slice();
        assert_eq!(missing_closure(3, &pre, &|_| false).unwrap(), [0, 1, 2, 3]);
        assert_eq!(missing_closure(3, &pre, &|i| i == 0).unwrap(), [1, 2, 3]);
        // Owning a prerequisite cuts its own prerequisites out.
        assert_eq!(missing_closure(3, &pre, &|i| i == 1).unwrap(), [0, 2, 3]);
        assert!(missing_closure(3, &pre, &|i| i == 3).unwrap().is_empty());
        let cyclic: Vec<Vec<u32>> = vec![vec![1], vec![0]];
        let pre = |i: u32| cyclic[i as usize].as_slice();
        assert_eq!(missing_closure(0, &pre, &|_| false), Err(CycleAt(0)));
    }
}
