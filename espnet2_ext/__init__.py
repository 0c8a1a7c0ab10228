"""dcase26t4: espnet2 extension for DCASE2026 Task 4 (S5)."""
