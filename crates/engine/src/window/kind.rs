//! Window kinds and how tumbling, hopping and cumulating windows are cut into slices (panes)
//! whose partial aggregates are shared by every window that covers them.

/// The window of a windowed aggregation, as Flink's window table-valued functions define them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// `TUMBLE(…, size)`: back-to-back windows of one size.
    Tumble {
        /// Window length in milliseconds.
        size_ms: i64,
    },
    /// `HOP(…, slide, size)`: windows of `size` starting every `slide`.
    Hop {
        /// Window length in milliseconds.
        size_ms: i64,
        /// Distance between window starts in milliseconds.
        slide_ms: i64,
    },
    /// `CUMULATE(…, step, max_size)`: windows that grow by `step` from a common start up to
    /// `max_size`, then start over.
    Cumulate {
        /// Growth step in milliseconds.
        step_ms: i64,
        /// Largest window length in milliseconds.
        max_size_ms: i64,
    },
    /// `SESSION(…, gap)`: per key, events closer than `gap` belong to one window.
    Session {
        /// Inactivity gap in milliseconds.
        gap_ms: i64,
    },
}

impl WindowKind {
    /// Checks sizes for consistency.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            WindowKind::Tumble { size_ms } if size_ms <= 0 => {
                Err(format!("TUMBLE size must be positive, got {size_ms} ms"))
            }
            WindowKind::Hop { size_ms, slide_ms } if size_ms <= 0 || slide_ms <= 0 => Err(format!(
                "HOP size and slide must be positive, got {size_ms} and {slide_ms} ms"
            )),
            WindowKind::Cumulate {
                step_ms,
                max_size_ms,
            } if step_ms <= 0 || max_size_ms <= 0 || max_size_ms % step_ms != 0 => Err(format!(
                "CUMULATE max size ({max_size_ms} ms) must be a positive multiple of its step ({step_ms} ms)"
            )),
            WindowKind::Session { gap_ms } if gap_ms <= 0 => {
                Err(format!("SESSION gap must be positive, got {gap_ms} ms"))
            }
            _ => Ok(()),
        }
    }

    /// The slice length: the largest length that every window boundary is a multiple of.
    /// `None` for session windows, which are not sliced.
    pub fn slice_ms(&self) -> Option<i64> {
        match *self {
            WindowKind::Tumble { size_ms } => Some(size_ms),
            WindowKind::Hop { size_ms, slide_ms } => Some(gcd(size_ms, slide_ms)),
            WindowKind::Cumulate { step_ms, .. } => Some(step_ms),
            WindowKind::Session { .. } => None,
        }
    }

    /// The start of the slice holding `ts`.
    pub fn slice_start(&self, ts: i64) -> i64 {
        let len = self.slice_ms().expect("sliced window");
        ts - ts.rem_euclid(len)
    }

    /// The end of the last window that covers the slice starting at `slice_start`: once that
    /// window has fired, the slice is no longer needed.
    pub fn last_window_end(&self, slice_start: i64) -> i64 {
        match *self {
            WindowKind::Tumble { size_ms } => slice_start + size_ms,
            WindowKind::Hop { size_ms, slide_ms } => {
                slice_start - slice_start.rem_euclid(slide_ms) + size_ms
            }
            WindowKind::Cumulate { max_size_ms, .. } => {
                slice_start - slice_start.rem_euclid(max_size_ms) + max_size_ms
            }
            WindowKind::Session { .. } => unreachable!("session windows are not sliced"),
        }
    }

    /// The ends of every window that covers the slice starting at `slice_start`, ascending.
    pub fn window_ends(&self, slice_start: i64) -> Vec<i64> {
        let slice_end = slice_start + self.slice_ms().expect("sliced window");
        match *self {
            WindowKind::Tumble { .. } => vec![slice_end],
            WindowKind::Hop { size_ms, slide_ms } => {
                // Windows [w, w + size) with w a multiple of slide, w <= slice_start and
                // w + size >= slice_end.
                let last = slice_start - slice_start.rem_euclid(slide_ms);
                let mut ends = Vec::new();
                let mut w = last;
                while w + size_ms >= slice_end {
                    ends.push(w + size_ms);
                    w -= slide_ms;
                }
                ends.reverse();
                ends
            }
            WindowKind::Cumulate {
                step_ms,
                max_size_ms,
            } => {
                let period_end = slice_start - slice_start.rem_euclid(max_size_ms) + max_size_ms;
                (0..)
                    .map(|i| slice_end + i * step_ms)
                    .take_while(|e| *e <= period_end)
                    .collect()
            }
            WindowKind::Session { .. } => unreachable!("session windows are not sliced"),
        }
    }

    /// The end of the first window that covers the slice starting at `slice_start` (the first
    /// of [`WindowKind::window_ends`], without making the list); `None` for a slice between
    /// two windows of a hopping window smaller than its slide.
    pub fn first_window_end(&self, slice_start: i64) -> Option<i64> {
        let slice_end = slice_start + self.slice_ms().expect("sliced window");
        match *self {
            WindowKind::Tumble { .. } | WindowKind::Cumulate { .. } => Some(slice_end),
            WindowKind::Hop { size_ms, slide_ms } => {
                // The earliest window start w, a multiple of slide, with w + size >= slice_end
                // and w <= slice_start.
                let lowest = slice_end - size_ms;
                let w = lowest + (slide_ms - lowest.rem_euclid(slide_ms)) % slide_ms;
                (w <= slice_start).then_some(w + size_ms)
            }
            WindowKind::Session { .. } => unreachable!("session windows are not sliced"),
        }
    }

    /// The start of the window that ends at `end`.
    pub fn window_start(&self, end: i64) -> i64 {
        match *self {
            WindowKind::Tumble { size_ms } => end - size_ms,
            WindowKind::Hop { size_ms, .. } => end - size_ms,
            WindowKind::Cumulate { max_size_ms, .. } => {
                let last = end - 1;
                last - last.rem_euclid(max_size_ms)
            }
            WindowKind::Session { .. } => unreachable!("session windows are not sliced"),
        }
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumble_slices_are_windows() {
        let w = WindowKind::Tumble { size_ms: 10 };
        assert_eq!(w.slice_start(25), 20);
        assert_eq!(w.slice_start(-1), -10);
        assert_eq!(w.window_ends(20), vec![30]);
        assert_eq!(w.window_start(30), 20);
        assert_eq!(w.last_window_end(20), 30);
    }

    #[test]
    fn hop_slices_by_gcd_and_covers_each_slice_size_over_slide_times() {
        let w = WindowKind::Hop {
            size_ms: 10,
            slide_ms: 4,
        };
        assert_eq!(w.slice_ms(), Some(2));
        // Slice [8, 10) is covered by windows [0,10) and [4,14) and [8,18).
        assert_eq!(w.window_ends(8), vec![10, 14, 18]);
        assert_eq!(w.last_window_end(8), 18);
        // Slice [10, 12): windows [4,14) and [8,18).
        assert_eq!(w.window_ends(10), vec![14, 18]);
    }

    #[test]
    fn cumulate_windows_grow_within_a_period() {
        let w = WindowKind::Cumulate {
            step_ms: 5,
            max_size_ms: 15,
        };
        assert_eq!(w.window_ends(0), vec![5, 10, 15]);
        assert_eq!(w.window_ends(10), vec![15]);
        assert_eq!(w.window_start(10), 0);
        assert_eq!(w.window_start(15), 0);
        assert_eq!(w.window_start(20), 15);
        assert_eq!(w.last_window_end(5), 15);
    }

    #[test]
    fn the_first_window_end_is_the_first_of_the_window_ends() {
        let kinds = [
            WindowKind::Tumble { size_ms: 10 },
            WindowKind::Hop {
                size_ms: 10,
                slide_ms: 4,
            },
            WindowKind::Hop {
                size_ms: 9,
                slide_ms: 3,
            },
            WindowKind::Hop {
                size_ms: 4,
                slide_ms: 10,
            },
            WindowKind::Cumulate {
                step_ms: 5,
                max_size_ms: 15,
            },
        ];
        for kind in kinds {
            let slice = kind.slice_ms().unwrap();
            for k in -20..20 {
                let start = k * slice;
                assert_eq!(
                    kind.first_window_end(start),
                    kind.window_ends(start).first().copied(),
                    "{kind:?} slice at {start}"
                );
            }
        }
    }

    #[test]
    fn invalid_sizes_are_refused() {
        assert!(
            WindowKind::Cumulate {
                step_ms: 4,
                max_size_ms: 10
            }
            .validate()
            .is_err()
        );
        assert!(WindowKind::Tumble { size_ms: 0 }.validate().is_err());
    }
}
