# Input drift: the largest PSI of the target's series (recent values against the last weeks of
# the training data) and the threshold above which the monitor starts a retraining.
run_time = df_1["run_time"]
psi = [df_1["psi"], df_1["psi_threshold"]]
