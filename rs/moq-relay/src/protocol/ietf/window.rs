//! Which groups of a track a draft subscription delivers, and which objects at its range's two ends
//! (`docs/protocol.md`, "Subscription filters"). On draft-20 and later the relay applies the
//! SUBSCRIPTION_FILTER (LOCATION_FILTER) as the published client's publisher does: a relative or
//! absolute start, an end group and an end object. Before draft-20 (and for no filter, or Next
//! Object) a subscription starts at the start of the track's latest group, again as the client
//! serves it: the relay serves no fill or joining FETCH, so a live subscriber gets the current
//! group whole.

use crate::wire::ietf::draft18::LocationFilter;

/// The range of one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
	start: Start,
	/// The last group, inclusive, and in it the last object, inclusive.
	end: Option<(u64, Option<u64>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
	/// The start of the newest group (the first to come when the track has none yet).
	Latest,
	/// The start of the group this many back from the next one: 0 is the next group, 1 the
	/// current one.
	Relative(u64),
	/// This group, from this object.
	At(u64, u64),
}

impl Window {
	/// From the start of the newest group on, without an end.
	pub const LATEST: Self = Self {
		start: Start::Latest,
		end: None,
	};

	/// The range a draft-20 (or later) SUBSCRIPTION_FILTER asks for.
	pub fn from_filter(filter: LocationFilter) -> Self {
		match filter {
			LocationFilter::Unfiltered | LocationFilter::NextObject => Self::LATEST,
			LocationFilter::Relative(groups) => Self {
				start: Start::Relative(groups),
				end: None,
			},
			LocationFilter::Absolute {
				start: (group, object),
				end_group,
				end_object,
			} => Self {
				start: Start::At(group, object),
				end: end_group.map(|group| (group, end_object)),
			},
		}
	}

	/// The first group to offer when the track's newest group is `latest`: `None` while the track
	/// has none and the start depends on it (then every group that comes is offered).
	pub fn first_group(&self, latest: Option<u64>) -> Option<u64> {
		match self.start {
			Start::Latest => latest,
			Start::Relative(groups) => latest.map(|latest| latest.saturating_add(1).saturating_sub(groups)),
			Start::At(group, _) => Some(group),
		}
	}

	/// Whether group `sequence` comes after the range's last.
	pub fn past_end(&self, sequence: u64) -> bool {
		self.end.is_some_and(|(last, _)| sequence > last)
	}

	/// The objects of group `sequence` to send: from the first, up to the last (inclusive) when the
	/// range ends inside the group.
	pub fn objects(&self, sequence: u64) -> (u64, Option<u64>) {
		let first = match self.start {
			Start::At(group, object) if group == sequence => object,
			_ => 0,
		};
		let last = match self.end {
			Some((group, last)) if group == sequence => last,
			_ => None,
		};
		(first, last)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn absolute(start: (u64, u64), end_group: Option<u64>, end_object: Option<u64>) -> Window {
		Window::from_filter(LocationFilter::Absolute {
			start,
			end_group,
			end_object,
		})
	}

	#[test]
	fn the_live_edge_is_the_newest_groups_start() {
		for filter in [LocationFilter::Unfiltered, LocationFilter::NextObject] {
			let window = Window::from_filter(filter);
			assert_eq!(window, Window::LATEST);
			assert_eq!(window.first_group(Some(7)), Some(7));
			assert_eq!(window.first_group(None), None, "no group yet: the first to come");
			assert_eq!(window.objects(7), (0, None));
			assert!(!window.past_end(u64::MAX));
		}
	}

	#[test]
	fn a_relative_start_counts_back_from_the_next_group() {
		let next = Window::from_filter(LocationFilter::Relative(0));
		assert_eq!(next.first_group(Some(7)), Some(8));
		let current = Window::from_filter(LocationFilter::Relative(1));
		assert_eq!(current.first_group(Some(7)), Some(7));
		let three = Window::from_filter(LocationFilter::Relative(3));
		assert_eq!(three.first_group(Some(7)), Some(5));
		assert_eq!(three.first_group(Some(1)), Some(0), "not before the first group");
		assert_eq!(three.first_group(None), None);
		assert_eq!(
			Window::from_filter(LocationFilter::Relative(u64::MAX)).first_group(Some(u64::MAX)),
			Some(0)
		);
	}

	#[test]
	fn an_absolute_range_names_its_groups_and_end_objects() {
		let window = absolute((5, 2), Some(8), Some(3));
		assert_eq!(
			window.first_group(Some(100)),
			Some(5),
			"a past start, whatever the newest"
		);
		assert_eq!(window.first_group(None), Some(5));
		assert_eq!(window.objects(5), (2, None));
		assert_eq!(window.objects(6), (0, None));
		assert_eq!(window.objects(8), (0, Some(3)));
		assert!(!window.past_end(8));
		assert!(window.past_end(9));
		// One group: both ends in it.
		assert_eq!(absolute((4, 1), Some(4), Some(2)).objects(4), (1, Some(2)));
		// An end group without an end object takes the whole group; no end group, no end.
		assert_eq!(absolute((4, 0), Some(6), None).objects(6), (0, None));
		assert!(!absolute((4, 0), None, None).past_end(u64::MAX));
	}
}
