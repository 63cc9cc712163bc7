"""Data sharing (数据共享): base registries, the sharing catalog, grants, purpose-bound
queries, the subject's view of who used their data, and 免提交 from shared data."""
