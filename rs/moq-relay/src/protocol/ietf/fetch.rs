//! Which objects a draft FETCH gets from the groups the relay holds, and the End Location its
//! FETCH_OK names (`docs/protocol.md`, "FETCH on the drafts"). Sans-I/O: the session reads the
//! cache and writes the fetch stream.
//!
//! A FETCH names a range of one track: before draft-20 a Standalone Fetch Type's Start and End
//! Location (the End exclusive, an End Object of 0 meaning the whole End Group), from draft-20 on a
//! LOCATION_FILTER with an absolute start (its End Group and End Object inclusive). The relay
//! answers from its cache alone and as the cache stands when the FETCH arrives: each group of the
//! range it holds, from the range's start (or the group's first object) to the range's end (or
//! the last object that group has begun), a frame still arriving followed to its end. Groups it
//! does not hold are left out.

use crate::wire::ietf::Location;
use crate::wire::ietf::draft18::LocationFilter;

/// The objects a FETCH asks for: from `start` (group, object) to `last` (group, and in it the
/// last object, `None` for the whole group; `None` for everything from `start` on), inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchRange {
	start: (u64, u64),
	last: Option<(u64, Option<u64>)>,
}

/// Why a FETCH's range cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
	/// The range ends before it starts (INVALID_RANGE).
	Empty,
	/// A filter with no absolute start (Unfiltered, Next Object, Relative Start): a FETCH is for
	/// objects that exist (NOT_SUPPORTED, as the published client refuses them).
	NotAbsolute,
}

impl FetchRange {
	/// A Standalone FETCH's range before draft-20: `end` exclusive, its Object 0 meaning the whole
	/// End Group (draft-14 §9.16).
	pub fn standalone(start: Location, end: Location) -> Result<Self, RangeError> {
		let start = (start.group.into_inner(), start.object.into_inner());
		let (group, object) = (end.group.into_inner(), end.object.into_inner());
		let last = match object.checked_sub(1) {
			None => (group, None),
			Some(object) => (group, Some(object)),
		};
		let range = Self {
			start,
			last: Some(last),
		};
		match range.is_empty() {
			true => Err(RangeError::Empty),
			false => Ok(range),
		}
	}

	/// A draft-20 (or later) FETCH's LOCATION_FILTER: an absolute start, an End Group and End
	/// Object inclusive when present.
	pub fn filtered(filter: LocationFilter) -> Result<Self, RangeError> {
		let LocationFilter::Absolute {
			start,
			end_group,
			end_object,
		} = filter
		else {
			return Err(RangeError::NotAbsolute);
		};
		let range = Self {
			start,
			last: end_group.map(|group| (group, end_object)),
		};
		match range.is_empty() {
			true => Err(RangeError::Empty),
			false => Ok(range),
		}
	}

	/// The one group the range lies in, if it lies in one: such a FETCH (as the published client
	/// sends for a group it misses) is asked of the publisher when the relay does not hold it.
	pub fn group(&self) -> Option<u64> {
		match self.last {
			Some((group, _)) if group == self.start.0 => Some(group),
			_ => None,
		}
	}

	fn is_empty(&self) -> bool {
		match self.last {
			None => false,
			Some((group, _)) if group != self.start.0 => group < self.start.0,
			Some((_, object)) => object.is_some_and(|object| object < self.start.1),
		}
	}

	/// The groups from which objects are served, in ascending order: `(group, first object, last
	/// object)` for each group of `held` (its sequence and how many objects it has begun, in any
	/// order) that the range covers and that has an object in it. Empty when the relay holds
	/// none of the range.
	pub fn plan(&self, held: &[(u64, u64)]) -> Vec<(u64, u64, u64)> {
		let mut held: Vec<(u64, u64)> = held.to_vec();
		held.sort_unstable();
		held.into_iter()
			.filter_map(|(group, count)| {
				let newest = count.checked_sub(1)?;
				if group < self.start.0 || self.last.is_some_and(|(last, _)| group > last) {
					return None;
				}
				let first = if group == self.start.0 { self.start.1 } else { 0 };
				let last = match self.last {
					Some((last, Some(object))) if last == group => newest.min(object),
					_ => newest,
				};
				(first <= last).then_some((group, first, last))
			})
			.collect()
	}
}

/// FETCH_OK's End Location for a plan's last group and object: before draft-20 the location after
/// it (exclusive), from draft-20 on that object itself (`inclusive`).
pub fn end_location((group, _, last): (u64, u64, u64), inclusive: bool) -> (u64, u64) {
	match inclusive {
		true => (group, last),
		false => (group, last.saturating_add(1)),
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::wire::VarInt;

	fn at(group: u32, object: u32) -> Location {
		Location::new(VarInt::from_u32(group), VarInt::from_u32(object))
	}

	#[test]
	fn a_standalone_range_ends_before_its_end_location_and_object_0_means_the_whole_group() {
		// Group 5 whole, as the published client asks for a group it misses: {5, 0} to {5, 0}.
		let whole = FetchRange::standalone(at(5, 0), at(5, 0)).unwrap();
		let held = [(6, 3), (4, 2), (5, 4)];
		assert_eq!(whole.plan(&held), [(5, 0, 3)]);
		// From object 2 of group 4 (which has only two) to before object 2 of group 6.
		let across = FetchRange::standalone(at(4, 2), at(6, 2)).unwrap();
		assert_eq!(across.plan(&held), [(5, 0, 3), (6, 0, 1)]);
		// Groups not held are left out; a range the relay holds nothing of plans nothing.
		assert_eq!(FetchRange::standalone(at(1, 0), at(3, 0)).unwrap().plan(&held), []);
		// A group with no object begun yet has nothing to serve.
		assert_eq!(whole.plan(&[(5, 0)]), []);
		// One group, which the relay asks the publisher for when it holds none of it; or more.
		assert_eq!(whole.group(), Some(5));
		assert_eq!(FetchRange::standalone(at(5, 1), at(5, 3)).unwrap().group(), Some(5));
		assert_eq!(across.group(), None);
		// End before start.
		assert_eq!(FetchRange::standalone(at(5, 3), at(5, 3)), Err(RangeError::Empty));
		assert_eq!(FetchRange::standalone(at(5, 0), at(4, 9)), Err(RangeError::Empty));
		// The End Location: after the last object served (exclusive), or that object.
		assert_eq!(end_location((5, 0, 3), false), (5, 4));
		assert_eq!(end_location((5, 0, 3), true), (5, 3));
	}

	#[test]
	fn a_filtered_range_is_inclusive_and_needs_an_absolute_start() {
		let held = [(7, 5), (8, 5), (9, 2)];
		// The published client on draft-20: group 8 from object 1, End Group delta 0, no End Object.
		let group = FetchRange::filtered(LocationFilter::Absolute {
			start: (8, 1),
			end_group: Some(8),
			end_object: None,
		})
		.unwrap();
		assert_eq!(group.plan(&held), [(8, 1, 4)]);
		// An End Object, inclusive, and no end at all: everything held from the start on.
		let ranged = FetchRange::filtered(LocationFilter::Absolute {
			start: (7, 3),
			end_group: Some(8),
			end_object: Some(2),
		})
		.unwrap();
		assert_eq!(ranged.plan(&held), [(7, 3, 4), (8, 0, 2)]);
		let open = FetchRange::filtered(LocationFilter::Absolute {
			start: (8, 4),
			end_group: None,
			end_object: None,
		})
		.unwrap();
		assert_eq!(open.plan(&held), [(8, 4, 4), (9, 0, 1)]);
		assert_eq!((group.group(), ranged.group(), open.group()), (Some(8), None, None));
		for filter in [
			LocationFilter::Unfiltered,
			LocationFilter::NextObject,
			LocationFilter::Relative(1),
		] {
			assert_eq!(FetchRange::filtered(filter), Err(RangeError::NotAbsolute));
		}
		let backwards = LocationFilter::Absolute {
			start: (8, 3),
			end_group: Some(8),
			end_object: Some(2),
		};
		assert_eq!(FetchRange::filtered(backwards), Err(RangeError::Empty));
	}
}
