//! PostgreSQL 15's in-memory quicksort (`src/include/lib/sort_template.h`, the Bentley and
//! McIlroy quicksort every tuplesort uses), reproduced comparison for comparison.
//!
//! Why the exact algorithm matters: a unique index build raises 23505 at the *first* equal
//! pair its sort compares, and the DETAIL names that pair's key ("Key (a)=(5) is
//! duplicated." for rows 5, 3, 5, 3 although 3 is the smaller duplicate). The same sequence
//! of comparisons gives the same pair. The steps, as in sort_template.h: fewer than 7 items
//! are insertion-sorted; otherwise a presorted pass returns early, the pivot is the median of
//! three (of three medians of three above 40 items), a three-way partition moves items equal
//! to the pivot to both ends and then to the middle, and the smaller side is sorted first.
//! Not modelled: external (on-disk) sorts past `maintenance_work_mem`, which simulated tables
//! never reach, and abbreviated keys (they change how a comparison is computed, never its
//! result, so the sequence is the same).

use std::cmp::Ordering;

/// Sorts `items` with `compare` in PostgreSQL's order of comparisons; the first error
/// `compare` returns stops the sort and is returned.
pub fn pg_qsort<T, E>(
    items: &mut [T],
    compare: &mut impl FnMut(&T, &T) -> Result<Ordering, E>,
) -> Result<(), E> {
    let mut items = items;
    loop {
        let count = items.len();
        if count < 7 {
            return insertion_sort(items, compare);
        }
        if presorted(items, compare)? {
            return Ok(());
        }
        let pivot = choose_pivot(items, compare)?;
        items.swap(0, pivot);
        let (left, right) = partition(items, compare)?;
        // Sort the smaller side by recursion and loop on the larger, as sort_template.h does
        // (the order decides which equal pair is met first).
        let (first, second) = if left <= right {
            (0..left, count - right..count)
        } else {
            (count - right..count, 0..left)
        };
        if first.len() > 1 {
            pg_qsort(&mut items[first], compare)?;
        }
        if second.len() <= 1 {
            return Ok(());
        }
        items = &mut items[second];
    }
}

fn insertion_sort<T, E>(
    items: &mut [T],
    compare: &mut impl FnMut(&T, &T) -> Result<Ordering, E>,
) -> Result<(), E> {
    for next in 1..items.len() {
        let mut at = next;
        while at > 0 && compare(&items[at - 1], &items[at])? == Ordering::Greater {
            items.swap(at, at - 1);
            at -= 1;
        }
    }
    Ok(())
}

/// Whether every neighbour pair is in order; stops at the first pair that is not.
fn presorted<T, E>(
    items: &[T],
    compare: &mut impl FnMut(&T, &T) -> Result<Ordering, E>,
) -> Result<bool, E> {
    for next in 1..items.len() {
        if compare(&items[next - 1], &items[next])? == Ordering::Greater {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The pivot's position: the middle item for 7, the median of first, middle and last up to
/// 40, and above that the median of three such medians spread by an eighth of the items.
fn choose_pivot<T, E>(
    items: &[T],
    compare: &mut impl FnMut(&T, &T) -> Result<Ordering, E>,
) -> Result<usize, E> {
    let count = items.len();
    let mut middle = count / 2;
    if count > 7 {
        let mut low = 0;
        let mut high = count - 1;
        if count > 40 {
            let step = count / 8;
            low = median_of_three(items, [low, low + step, low + 2 * step], compare)?;
            middle = median_of_three(items, [middle - step, middle, middle + step], compare)?;
            high = median_of_three(items, [high - 2 * step, high - step, high], compare)?;
        }
        middle = median_of_three(items, [low, middle, high], compare)?;
    }
    Ok(middle)
}

/// sort_template.h's med3, with its comparisons in its order.
fn median_of_three<T, E>(
    items: &[T],
    [a, b, c]: [usize; 3],
    compare: &mut impl FnMut(&T, &T) -> Result<Ordering, E>,
) -> Result<usize, E> {
    Ok(if compare(&items[a], &items[b])? == Ordering::Less {
        if compare(&items[b], &items[c])? == Ordering::Less {
            b
        } else if compare(&items[a], &items[c])? == Ordering::Less {
            c
        } else {
            a
        }
    } else if compare(&items[b], &items[c])? == Ordering::Greater {
        b
    } else if compare(&items[a], &items[c])? == Ordering::Less {
        a
    } else {
        c
    })
}

/// Partitions around the pivot at position 0. Returns how many items are smaller and how
/// many larger than the pivot; they end at the front and the back, the equal ones between.
fn partition<T, E>(
    items: &mut [T],
    compare: &mut impl FnMut(&T, &T) -> Result<Ordering, E>,
) -> Result<(usize, usize), E> {
    let count = items.len();
    // Equal items gather at [1, equal_front) and (equal_back, count - 1]; `low` and `high`
    // are the scan positions from each end (signed: `high` may cross below `low`).
    let (mut equal_front, mut low) = (1_usize, 1_usize);
    let (mut equal_back, mut high) = (count as isize - 1, count as isize - 1);
    loop {
        while low as isize <= high {
            let order = compare(&items[low], &items[0])?;
            if order == Ordering::Greater {
                break;
            }
            if order == Ordering::Equal {
                items.swap(equal_front, low);
                equal_front += 1;
            }
            low += 1;
        }
        while low as isize <= high {
            let order = compare(&items[high as usize], &items[0])?;
            if order == Ordering::Less {
                break;
            }
            if order == Ordering::Equal {
                items.swap(high as usize, equal_back as usize);
                equal_back -= 1;
            }
            high -= 1;
        }
        if low as isize > high {
            break;
        }
        items.swap(low, high as usize);
        low += 1;
        high -= 1;
    }
    // Bring the equal runs from both ends to the middle.
    let front_run = equal_front.min(low - equal_front);
    swap_runs(items, 0, low - front_run, front_run);
    let back_start = (equal_back + 1) as usize;
    let back_run = (equal_back - high) as usize;
    let back_run = back_run.min(count - back_start);
    swap_runs(items, low, count - back_run, back_run);
    let smaller = low - equal_front;
    let larger = (equal_back - high) as usize;
    Ok((smaller, larger))
}

/// Swaps the `length` items at `first` with those at `second`, pair by pair.
fn swap_runs<T>(items: &mut [T], first: usize, second: usize, length: usize) {
    for offset in 0..length {
        items.swap(first + offset, second + offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sorted(mut items: Vec<i64>) -> (Vec<i64>, Vec<(i64, i64)>) {
        let mut seen = Vec::new();
        let mut compare = |left: &i64, right: &i64| -> Result<Ordering, ()> {
            seen.push((*left, *right));
            Ok(left.cmp(right))
        };
        pg_qsort(&mut items, &mut compare).unwrap();
        (items, seen)
    }

    proptest! {
        /// Goal: whatever the input (sizes across the insertion-sort, median-of-three and
        /// ninther thresholds, many duplicates), the result is sorted and a permutation.
        #[test]
        fn sorts_like_the_standard_library(items in prop::collection::vec(0_i64..20, 0..200)) {
            let (result, _) = sorted(items.clone());
            let mut expected = items;
            expected.sort_unstable();
            prop_assert_eq!(result, expected);
        }
    }

    /// Goal: the comparisons follow sort_template.h. Six items are insertion-sorted, so the
    /// first equal pair of 5, 3, 5, 3 is (5, 5), the pair PostgreSQL 15.18 names when a
    /// unique index is built over those rows ("Key (a)=(5) is duplicated.").
    #[test]
    fn small_inputs_compare_neighbours_in_order() {
        let (_, seen) = sorted(vec![5, 3, 5, 3, 9, 9]);
        assert_eq!(&seen[..2], &[(5, 3), (5, 5)]);
    }

    /// Goal: a presorted input of 7 or more items costs exactly one pass of neighbour
    /// comparisons, and an unsorted one stops that pass at its first inversion.
    #[test]
    fn presorted_pass_stops_at_the_first_inversion() {
        let (_, seen) = sorted((0..50).collect());
        assert_eq!(seen.len(), 49);
        let (_, seen) = sorted(vec![1, 2, 3, 0, 4, 5, 6, 7]);
        assert_eq!(&seen[..3], &[(1, 2), (2, 3), (3, 0)]);
        // Then the median of 1 (first), 4 (middle), 7 (last): 1 < 4, 4 < 7.
        assert_eq!(&seen[3..5], &[(1, 4), (4, 7)]);
    }
}
