task_pattern = "task.%03d"
run_index_pattern = "%04d"
