#!/usr/bin/env perl
# slurm.pl: run a command, or an array of commands, as one Slurm job (Kaldi/ESPnet style).
#
# Usage: slurm.pl [options] [JOB=1:N] LOGFILE COMMAND...
#   e.g. slurm.pl --config conf/slurm.conf --mem 4G JOB=1:8 exp/log/x.JOB.log python -m y JOB
# Same calling convention, command quoting, log format and exit status as run.pl (read
# its header). JOB=a:b becomes an array job (sbatch --array=a-b); each task replaces the
# job variable by its SLURM_ARRAY_TASK_ID, as plain text, in LOGFILE and in the command.
#
# Options (--opt VALUE; dashes and underscores are equivalent):
#   --config F        option map (default: conf/slurm.conf, relative to the current dir)
#   --max-jobs-run K  at most K array tasks at once (--array=a-b%K)
#   any other option (usually --gpu N, --mem 4G, --num_threads N, --time T, --name X,
#   --num_nodes M) is translated into sbatch flags by the config; an option (or value)
#   the config does not describe is an error. --num_threads N (a positive integer) also goes to the log.
# Config lines (ESPnet format; "#" starts a comment):
#   command sbatch --export=PATH      the submit command (required)
#   option mem=* --mem-per-cpu $0     flags for any value; $0 is replaced by the value
#   option gpu=0                      flags for exactly this value (may be none)
#   default gpu=0                     value used when the option is not given
# Files, with <stem> = the log's file name without extension and job variable:
#   <logdir>/q/<stem>.sh                 the generated job script
#   <logdir>/q/<stem>[.<id>].log         Slurm's own output (normally empty)
#   <logdir>/q/<stem>[.<id>].status      a task's exit code, written last (sync file)
# The job script cds to the submit directory, sources ./path.sh there if it exists,
# writes "# <command>", "# Started at <date>" and "# Running on <host> ..." to the log,
# appends the command's output, then "# Accounting: ..." and "# Ended (code N) at ...".
# slurm.pl waits for every task's status file, asking squeue every
# $SLURM_PL_SQUEUE_INTERVAL s (default 10) whether the job still exists; tasks of a job
# that is gone still have SLURM_PL_SYNC_GRACE s (default 20, for slow shared file
# systems) to show a status, then count as failed. Ctrl-C / SIGTERM cancels the job.
# SLURM_PL_DRY_RUN=1: write the job script, print the sbatch command line, submit nothing.
use strict;
use warnings;
use Cwd qw(getcwd);
use File::Basename qw(basename dirname);
use File::Path qw(make_path);
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);

my $me = 'slurm.pl';
my $usage = "Usage: $me [options] [JOB=1:N] LOGFILE COMMAND...  (see the header of $0)\n";
my $squeue_interval = $ENV{SLURM_PL_SQUEUE_INTERVAL} // 10;
my $sync_grace = $ENV{SLURM_PL_SYNC_GRACE} // 20;
my %finished_state = map { $_ => 1 }
    qw(BOOT_FAIL CANCELLED COMPLETED DEADLINE FAILED NODE_FAIL OUT_OF_MEMORY PREEMPTED REVOKED TIMEOUT);

sub fail { print STDERR "$me: $_[0]\n"; exit 1; }

sub squote { my $w = shift; $w =~ s/'/'\\''/g; return "'$w'"; }

# A word as bash must read it: plain words and bare operators (| > 2>&1 ...) as-is,
# anything else single-quoted (run.pl's command quoting).
sub shell_word {
    my $w = shift;
    return $w if $w =~ m{^[\w@%+=:,./-]+\z} || $w =~ m{^(?:\|\|?|&&|;|&|\(|\)|\d?(?:>>?|<)(?:&\d)?|&>>?)\z};
    return squote($w);
}

# Run a program without a shell: (exit code, stdout+stderr).
sub capture {
    my @argv = @_;
    my $pid = open(my $fh, '-|') // fail("fork failed: $!");
    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT);
        exec(@argv) or do { print "cannot run $argv[0]: $!\n"; exit 127; };
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    return ($? >> 8, $out);
}

# ---- arguments ----
my ($config, $max_jobs_run, $jobvar, $first, $last) = ('conf/slurm.conf');
my @job_options;    # [name, value] in command-line order, for the config to translate
for my $round (1, 2) {    # options may come before and after JOB=a:b
    while (@ARGV && $ARGV[0] =~ /^--(.+)$/) {
        (my $name = $1) =~ tr/-/_/;
        shift @ARGV;
        @ARGV or fail("option --$name needs a value");
        my $value = shift @ARGV;
        if ($name eq 'config') { $config = $value; }
        elsif ($name eq 'max_jobs_run') {
            $value =~ /^[1-9]\d*\z/ or fail("--max-jobs-run needs a positive integer, got '$value'");
            $max_jobs_run = $value;
        }
        else { push @job_options, [$name, $value]; }
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
my @ids = defined $jobvar ? ($first .. $last) : (1);

sub for_task {    # (template, task id) -> text with the job variable replaced
    my ($text, $id) = @_;
    $text =~ s/\Q$jobvar\E/$id/g if defined $jobvar;
    return $text;
}

# ---- config: generic options -> sbatch flags ----
sub read_config {
    my ($path) = @_;
    open(my $fh, '<', $path) or fail("cannot read the option map $path ($!); pass --config FILE");
    my (@command, %flags, %default);    # $flags{"name=value"} / $flags{"name=*"} = [words]
    while (my $line = <$fh>) {
        $line =~ s/(^|\s)#.*//s;
        my @words = split ' ', $line;
        next unless @words;
        my $kind = shift @words;
        (my $key = $words[0] // '') =~ s/^([^=]*)/$1 =~ tr|-|_|r/e;    # gpu-limit=* -> gpu_limit=*
        if ($kind eq 'command' && @words) { @command = @words; }
        elsif ($kind eq 'option' && $key =~ /^\w+=\S+$/) { shift @words; $flags{$key} = \@words; }
        elsif ($kind eq 'default' && @words == 1 && $key =~ /^(\w+)=(\S+)$/) { $default{$1} = $2; }
        else { chomp $line; fail("$path line $.: cannot read '$line' (expected 'command ...', 'option NAME=VALUE|* [flags]' or 'default NAME=VALUE')"); }
    }
    @command or fail("$path has no 'command' line");
    return (\@command, \%flags, \%default);
}

my ($submit, $flags, $default) = read_config($config);
my %given = map { $_->[0] => $_->[1] } @job_options;
my @options = ((map { $_->[0] } @job_options), grep { !exists $given{$_} } sort keys %$default);
my @sbatch_flags;
for my $name (@options) {
    my $value = $given{$name} // $default->{$name};
    if (my $exact = $flags->{"$name=$value"}) { push @sbatch_flags, @$exact; }
    elsif (my $any = $flags->{"$name=*"}) { push @sbatch_flags, map { s/\$0/$value/gr } @$any; }
    else { fail("option --$name $value is not described in $config (add 'option $name=* FLAGS \$0' or 'option $name=$value FLAGS')"); }
}
my $threads = $given{num_threads} // $default->{num_threads} // 1;
$threads =~ /^[1-9]\d*\z/ or fail("--num_threads needs a positive integer, got '$threads'");    # it goes into the job script

# ---- the job script ----
my $cwd = getcwd();
my $qdir = dirname(for_task($log_template, $ids[0])) . '/q';
my $stem = basename($log_template);
$stem =~ s/\.[A-Za-z]{1,5}$//;
$stem =~ s/[._-]?\Q$jobvar\E//g if defined $jobvar;
$stem = 'job' if $stem eq '';
my $task_part = defined $jobvar ? ".$jobvar" : '';
my $script_file = "$qdir/$stem.sh";
my $slurm_output = "$qdir/$stem" . (defined $jobvar ? '.%a' : '') . '.log';
my $status_template = "$qdir/$stem$task_part.status";

sub script_variable {    # bash lines that set NAME to the task's version of TEMPLATE
    my ($name, $template) = @_;
    my $lines = "$name=" . squote($template) . "\n";
    $lines .= "$name=\${$name//$jobvar/\$SLURM_ARRAY_TASK_ID}\n" if defined $jobvar;
    return $lines;
}

my $script = "#!/usr/bin/env bash\n# Generated by $me at " . strftime('%F %T', localtime) . "\n"
    . 'cd ' . squote($cwd) . " || exit 1\n"
    . script_variable('log', $log_template) . script_variable('cmd', $cmd_template)
    . script_variable('status', $status_template) . "threads=$threads\n" . <<'BODY';
trap 'echo "# Received SIGTERM" >> "$log"' TERM    # let the command end, record its code
mkdir -p "$(dirname "$log")"
{
    printf '# %s\n# Started at %s\n' "$cmd" "$(date)"
    echo "# Running on $(hostname), Slurm job ${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-?}}${SLURM_ARRAY_TASK_ID:+ task $SLURM_ARRAY_TASK_ID}"
} > "$log"
start=$(date +%s)
(
    if [ -f ./path.sh ]; then . ./path.sh || exit; fi
    eval "$cmd"
) < /dev/null >> "$log" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
echo "# Accounting: time=${elapsed} threads=${threads}" >> "$log"
echo "# Ended (code ${rc}) at $(date), elapsed time ${elapsed} seconds" >> "$log"
echo "${rc}" > "${status}.tmp" && mv -f "${status}.tmp" "${status}"
exit "${rc}"
BODY

eval { make_path($qdir) unless -d $qdir; 1 } or fail("cannot create $qdir: $@");
open(my $fh, '>', $script_file) or fail("cannot write $script_file: $!");
print $fh $script;
close $fh;
chmod 0755, $script_file;

my @array = defined $jobvar ? ("--array=$first-$last" . ($max_jobs_run ? "%$max_jobs_run" : '')) : ();
my @sbatch = (@$submit, @sbatch_flags, @array, '--open-mode=append', "--output=$slurm_output",
    '--parsable', $script_file);
if ($ENV{SLURM_PL_DRY_RUN}) {
    print join(' ', map { shell_word($_) } @sbatch), "\n";
    exit 0;
}

# ---- submit, then wait for the status files ----
my ($job_id, $caught_signal);
sub cancel_and_exit {    # signal handler; before the job id is known it only takes note
    my ($sig) = @_;
    $caught_signal = $sig;
    return unless defined $job_id;
    print STDERR "$me: caught SIG$sig, cancelling job $job_id\n";
    capture('scancel', $job_id);
    exit($sig eq 'INT' ? 130 : 143);
}
$SIG{$_} = \&cancel_and_exit for qw(INT TERM HUP);

my %status_file = map { $_ => for_task($status_template, $_) } @ids;
unlink values %status_file;
my ($rc, $out) = capture(@sbatch);
$out =~ /^(\d+)(?:;\S+)?\s*\z/m && $rc == 0
    or fail("submission failed (exit $rc): " . join(' ', map { shell_word($_) } @sbatch) . "\n$out");
$job_id = $1;
cancel_and_exit($caught_signal) if $caught_signal;

sub job_is_gone {    # true once squeue no longer lists the job as pending or running
    my ($code, $text) = capture('squeue', '-h', '-j', $job_id, '-o', '%T');
    return $text =~ /invalid job id/i if $code != 0;    # other errors: ask again later
    return !grep { /\S/ && !$finished_state{ s/\s+//gr } } split /\n/, $text;
}

my (%code, $gone_since);
my ($interval, $next_check) = (0.2, time + $squeue_interval);
while (1) {
    if (time >= $next_check) {
        $next_check = time + $squeue_interval;
        $gone_since //= time if job_is_gone();
    }
    for my $id (grep { !defined $code{$_} } @ids) {
        open(my $sf, '<', $status_file{$id}) or next;
        my $text = <$sf> // '';
        $code{$id} = $text =~ /^(\d+)/ ? $1 : 1;
    }
    last if @ids == keys %code;
    last if defined $gone_since && time - $gone_since >= $sync_grace;
    sleep $interval;
    $interval = $interval < 2 ? $interval * 1.5 : 2;
}

my @failed = grep { ($code{$_} // 1) != 0 } @ids;
exit 0 unless @failed;
my @logs = map { for_task($log_template, $_) } @failed;
my $shown = join ' ', @logs[0 .. ($#logs < 9 ? $#logs : 9)];
$shown .= ' ...' if @logs > 10;
print STDERR "$me: " . scalar(@failed) . " / " . scalar(@ids) . " failed, log is in $shown\n";
my @lost = grep { !defined $code{$_} } @ids;
print STDERR "$me: no exit status from task(s) @lost of job $job_id (cancelled, out of time or killed?);"
    . " Slurm's output: $slurm_output\n" if @lost;
exit 1;
