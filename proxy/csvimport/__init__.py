"""Reading the CSV files of `leeway users import` and `leeway training import`."""
