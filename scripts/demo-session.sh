# What the screenshot's session prints: colors of every kind, a progress bar, a summary.
printf '\033[1;34m==>\033[0m \033[1mBuilding sessiondock\033[0m\n'
for step in compile link package; do
  for p in 0 25 50 75 100; do printf '\r  %-8s [\033[32m%-20s\033[0m] %3d%%' $step "$(printf '%*s' $((p/5)) '' | tr ' ' '#')" $p; sleep 0.02; done
  printf '\n'
done
printf '\033[33mwarning:\033[0m 2 deprecated calls in \033[4msrc/legacy.py\033[0m\n'
printf '\033[1;32m✔ 148 passed\033[0m, \033[1;31m✘ 1 failed\033[0m, \033[2m3 skipped\033[0m\n'
for i in $(seq 0 15); do printf '\033[48;5;%dm  \033[0m' $((i)); done; printf '\n'
for i in $(seq 0 35); do printf '\033[48;2;%d;%d;200m \033[0m' $((i*7)) $((255-i*7)); done; printf '\n'
printf '\033[38;5;208morange 256-color\033[0m \033[38;2;120;200;255mtruecolor sky\033[0m \033[7minverse\033[0m\n'
