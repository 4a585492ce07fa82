//! What the sandbox refused during a run (`exec --report`).
