//! The tutorial's lessons measured on the engine: what a chapter claims, as numbers and a plot
//! from the user's own adapter.

pub mod gradients;
