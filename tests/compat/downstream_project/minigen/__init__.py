"""minigen: a tiny concurrent-learning-style generator built on Dflow."""
