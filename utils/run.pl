#!/usr/bin/env perl
# run.pl: run a command, or an array of commands, on this machine (Kaldi/ESPnet style).
#
# Usage: run.pl [options] [JOB=1:N] LOGFILE COMMAND...
#   e.g. run.pl JOB=1:4 exp/log/stats.JOB.log python -m x --part JOB --nparts 4
#
#  JOB=a:b     run the tasks a..b (JOB=a is one task); the variable name is free
#              (TASK=1:3 substitutes TASK). It is replaced as plain text in LOGFILE and
#              in the command. Without it, one task runs and nothing is substituted.
#  LOGFILE     created with its directory. Top: "# <command>", "# Started at <date>";
#              then the command's stdout+stderr; bottom: "# Accounting: time=S threads=N",
#              "# Ended (code N) at <date>, elapsed time S seconds".
#  COMMAND     the words are joined with spaces and run by `bash -c`, stdin from /dev/null.
#              A word made only of [A-Za-z0-9_@%+=:,./-], or a bare shell operator
#              (| || && ; & ( ) > >> < 2> 2>&1 &> ...), is written as-is, so an escaped \| or
#              \> still pipes or redirects as in Kaldi/ESPnet. Any other word (spaces,
#              quotes, $, *, ...) is single-quoted and reaches the program unchanged.
# Options (--opt VALUE; dashes and underscores are equivalent):
#  --max-jobs-run K  at most K tasks at once (default: the number of usable CPUs).
#  --num_threads N   only reported in the "# Accounting" line.
#  --gpu N, --mem X, --time T, --name X, --config F: accepted and ignored, so that
#                    cmd.sh can switch between run.pl and slurm.pl freely.
#  --num_nodes 1     accepted; more than one node is an error (this machine only).
# Exit status: 0 if every task exited 0; otherwise 1 (130/143 if interrupted) and
# "run.pl: F / N failed, log is in <log> ..." naming the failed tasks' logs on stderr.
# Ctrl-C / SIGTERM stops the running tasks (each runs in its own process group).
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use POSIX qw(strftime);

my $me = 'run.pl';
my $usage = "Usage: $me [options] [JOB=1:N] LOGFILE COMMAND...  (see the header of $0)\n";
my %ignored_option = map { $_ => 1 } qw(gpu mem time name config);

sub fail { print STDERR "$me: $_[0]\n"; exit 1; }
sub now { return strftime('%a %b %e %H:%M:%S %Z %Y', localtime); }

sub squote { my $w = shift; $w =~ s/'/'\\''/g; return "'$w'"; }

# A word as bash must read it (see "COMMAND" above).
sub shell_word {
    my $w = shift;
    return $w if $w =~ m{^[\w@%+=:,./-]+\z} || $w =~ m{^(?:\|\|?|&&|;|&|\(|\)|\d?(?:>>?|<)(?:&\d)?|&>>?)\z};
    return squote($w);
}

sub positive_int {
    my ($name, $value) = @_;
    $value =~ /^[1-9]\d*\z/ or fail("--$name needs a positive integer, got '$value'");
    return $value;
}

sub usable_cpus {    # CPUs this process may use; nproc would also obey OMP_NUM_THREADS
    local %ENV = %ENV;
    delete @ENV{qw(OMP_NUM_THREADS OMP_THREAD_LIMIT)};
    my $n = `nproc 2>/dev/null`;
    return (defined $n && $n =~ /^(\d+)/ && $1 > 0) ? $1 : 1;
}

# ---- arguments ----
my ($max_jobs_run, $num_threads) = (undef, 1);
my ($jobvar, $first, $last);
for my $round (1, 2) {    # options may come before and after JOB=a:b
    while (@ARGV && $ARGV[0] =~ /^--(.+)$/) {
        (my $name = $1) =~ tr/-/_/;
        shift @ARGV;
        @ARGV or fail("option --$name needs a value");
        my $value = shift @ARGV;
        if ($name eq 'max_jobs_run') { $max_jobs_run = positive_int($name, $value); }
        elsif ($name eq 'num_threads') { $num_threads = positive_int($name, $value); }
        elsif ($name eq 'num_nodes') {
            positive_int($name, $value) == 1 or fail("runs on this machine only; use slurm.pl for --num_nodes $value");
        }
        elsif (!$ignored_option{$name}) { fail("unknown option --$name\n$usage"); }
    }
    last if $round == 2 || !@ARGV;
    if ($ARGV[0] =~ /^([A-Za-z_]\w*)=(\d+)(?::(\d+))?\z/) {
        ($jobvar, $first, $last) = ($1, $2, defined $3 ? $3 : $2);
        $first <= $last or fail("empty task range $ARGV[0]");
        shift @ARGV;
    }
}
@ARGV >= 2 or fail("need a log file and a command\n$usage");
my $log_template = shift @ARGV;
my $cmd_template = join ' ', map { shell_word($_) } @ARGV;
if (defined $jobvar && $last > $first && index($log_template, $jobvar) < 0) {
    fail(($last - $first + 1) . " tasks would share one log file: put $jobvar in '$log_template'");
}
$max_jobs_run //= usable_cpus();

sub for_task {    # (template, task id) -> text with the job variable replaced
    my ($text, $id) = @_;
    $text =~ s/\Q$jobvar\E/$id/g if defined $jobvar;
    return $text;
}

# ---- one task: header, command, footer; returns the command's exit code ----
sub run_task {
    my ($id) = @_;
    my ($log, $cmd) = (for_task($log_template, $id), for_task($cmd_template, $id));
    my $dir = dirname($log);
    eval { make_path($dir) unless -d $dir; 1 } or fail("cannot create $dir: $@");
    open(my $fh, '>', $log) or fail("cannot write $log: $!");
    print $fh "# $cmd\n# Started at " . now() . "\n";
    close $fh;

    my $start = time;
    my $pid = fork() // fail("fork failed: $!");
    if ($pid == 0) {
        @SIG{qw(INT TERM)} = ('DEFAULT', 'DEFAULT');
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $log) or die "cannot append to $log: $!\n";
        open(STDERR, '>&', \*STDOUT);
        exec('bash', '-c', $cmd) or die "cannot run bash: $!\n";
    }
    waitpid($pid, 0);
    my $status = $?;
    my $code = $status == -1 ? 127 : ($status & 127) ? 128 + ($status & 127) : $status >> 8;
    my $elapsed = time - $start;
    open($fh, '>>', $log) or fail("cannot append to $log: $!");
    print $fh "# Accounting: time=$elapsed threads=$num_threads\n";
    print $fh "# Ended (code $code) at " . now() . ", elapsed time $elapsed seconds\n";
    close $fh;
    return $code;
}

# ---- schedule the tasks, at most $max_jobs_run at a time ----
my @ids = defined $jobvar ? ($first .. $last) : (1);
my (%running, %code);    # pid -> task id; task id -> exit code
my $interrupted = 0;
for my $sig (qw(INT TERM)) {
    $SIG{$sig} = sub {
        $interrupted ||= $sig eq 'INT' ? 130 : 143;
        kill $sig, map { -$_ } keys %running;    # each task is a process group
    };
}

sub reap_one {
    my $pid = waitpid(-1, 0);
    if ($pid < 0 && $!{ECHILD}) { %running = (); return; }    # nothing left to wait for
    return if $pid <= 0 || !exists $running{$pid};
    $code{ delete $running{$pid} } = $? >> 8;
}

for my $id (@ids) {
    reap_one() while keys %running >= $max_jobs_run && !$interrupted;
    last if $interrupted;
    my $pid = fork() // fail("fork failed: $!");
    if ($pid == 0) {
        setpgrp(0, 0);
        @SIG{qw(INT TERM)} = ('IGNORE', 'IGNORE');    # the task waits for its command and logs its end
        exit(run_task($id));
    }
    setpgrp($pid, $pid);    # also here, so that a signal right after fork reaches it
    $running{$pid} = $id;
}
reap_one() while keys %running;

my @failed = grep { !defined $code{$_} || $code{$_} != 0 } @ids;
if (@failed || $interrupted) {
    my @logs = map { for_task($log_template, $_) } @failed;
    my $shown = join ' ', @logs[0 .. ($#logs < 9 ? $#logs : 9)];
    $shown .= ' ...' if @logs > 10;
    print STDERR "$me: " . scalar(@failed) . " / " . scalar(@ids) . " failed, log is in $shown\n" if @failed;
    print STDERR "$me: interrupted\n" if $interrupted;
    exit($interrupted || 1);
}
exit 0;
