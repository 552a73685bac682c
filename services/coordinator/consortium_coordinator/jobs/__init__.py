"""Jobs: what an operator asks for, how it is stored, and its state machine."""
