//! Hostile repositories: nothing outside the materialised commit reaches a build.
