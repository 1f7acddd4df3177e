//! [`UnreadSteps`]: which slots of the statistics window hold the steps run without a readback.

use std::collections::VecDeque;

use crate::train::STATS_WINDOW;

/// The steps run with `step_unread` whose statistics no read has taken yet, oldest first (the
/// last [`STATS_WINDOW`] of them), and where each lies in the window of [`STATS_WINDOW`] slots
/// on the GPU: the first unread step since the last read takes slot 0, so a read takes only the
/// slots up to the last unread step's.
#[derive(Debug, Default)]
pub(super) struct UnreadSteps {
    steps: VecDeque<u64>,
    /// The step whose statistics slot 0 holds.
    base: u64,
}

impl UnreadSteps {
    /// The slot step `step` writes, recorded before it runs (the first after a read is slot 0).
    pub fn slot_for(&mut self, step: u64) -> usize {
        if self.steps.is_empty() {
            self.base = step;
        }
        self.slot(step)
    }

    /// Counts step `step` as run and unread, forgetting the oldest beyond the window (whose
    /// slot the newest took).
    pub fn push(&mut self, step: u64) {
        self.steps.push_back(step);
        if self.steps.len() > STATS_WINDOW {
            self.steps.pop_front();
        }
    }

    /// How many slots from the window's start a read takes: up to the last unread step's, all
    /// of them once the steps have wrapped around; 0 with no unread step.
    pub fn slots_to_read(&self) -> usize {
        self.steps.back().map_or(0, |&last| (last - self.base + 1).min(STATS_WINDOW as u64) as usize)
    }

    /// The unread steps with their slots, oldest first; none are unread after.
    pub fn take(&mut self) -> Vec<(u64, usize)> {
        let steps: Vec<u64> = self.steps.drain(..).collect();
        steps.into_iter().map(|s| (s, self.slot(s))).collect()
    }

    fn slot(&self, step: u64) -> usize {
        ((step - self.base) % STATS_WINDOW as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `steps` (numbers; read steps between them are left out), each unread.
    fn run(unread: &mut UnreadSteps, steps: impl IntoIterator<Item = u64>) -> Vec<usize> {
        steps
            .into_iter()
            .map(|s| {
                let slot = unread.slot_for(s);
                unread.push(s);
                slot
            })
            .collect()
    }

    #[test]
    fn a_read_takes_the_slots_its_steps_wrote_and_no_more() {
        let mut u = UnreadSteps::default();
        assert_eq!(u.slots_to_read(), 0);
        assert_eq!(run(&mut u, 1..=3), [0, 1, 2]);
        assert_eq!(u.slots_to_read(), 3);
        assert_eq!(u.take(), [(1, 0), (2, 1), (3, 2)]);
        assert_eq!(u.slots_to_read(), 0, "taken once");
        // after a read the next unread step starts at slot 0; step 6 was a read step
        assert_eq!(run(&mut u, [4, 5, 7]), [0, 1, 3]);
        assert_eq!(u.slots_to_read(), 4);
        assert_eq!(u.take(), [(4, 0), (5, 1), (7, 3)]);
    }

    #[test]
    fn past_the_window_the_newest_steps_overwrite_the_oldest() {
        let mut u = UnreadSteps::default();
        let n = STATS_WINDOW as u64;
        let slots = run(&mut u, 10..10 + n + 3);
        assert_eq!(slots[..3], [0, 1, 2]);
        assert_eq!(slots[slots.len() - 3..], [0, 1, 2], "steps past the window wrap around");
        assert_eq!(u.slots_to_read(), STATS_WINDOW);
        let taken = u.take();
        assert_eq!(taken.len(), STATS_WINDOW);
        assert_eq!(taken[0], (13, 3), "the oldest kept");
        assert_eq!(*taken.last().unwrap(), (10 + n + 2, 2));
        // every slot holds one step
        let mut held: Vec<usize> = taken.iter().map(|s| s.1).collect();
        held.sort();
        assert_eq!(held, (0..STATS_WINDOW).collect::<Vec<_>>());
    }
}
