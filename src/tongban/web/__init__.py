"""Server-rendered UI: the 办事大厅 portal for applicants and the 工作台 workbench for staff."""
