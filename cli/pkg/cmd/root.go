// Package cmd is the command tree of kubectl-odh: `kubectl odh mpijob ...`.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // cloud and OIDC auth providers
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// Version is set at link time (-ldflags "-X .../cli/pkg/cmd.Version=v1.2.3").
var Version = ""

// Scheme knows the types the CLI reads and writes.
var Scheme = runtime.NewScheme()

func init() {
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, kubeflow.AddToScheme, kueue.AddToScheme} {
		if err := add(Scheme); err != nil {
			panic(err)
		}
	}
}

// IOStreams are the command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Clients talk to the cluster.
type Clients struct {
	Client client.WithWatch
	Kube   kubernetes.Interface
}

// Factory gives commands their namespace and clients.
type Factory interface {
	// Namespace is the namespace to use and whether -n set it.
	Namespace() (string, bool, error)
	Clients() (*Clients, error)
}

// NewFactory makes the Factory for the root command's flags.
type NewFactory func(flags *genericclioptions.ConfigFlags, streams IOStreams) Factory

// warningWriter prints server warnings as kubectl does, once each.
type warningWriter struct {
	mu   sync.Mutex
	out  io.Writer
	seen map[string]bool
}

func (w *warningWriter) HandleWarningHeader(code int, _ string, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[text] {
		return
	}
	w.seen[text] = true
	fmt.Fprintf(w.out, "Warning: %s\n", text)
}

type kubeFactory struct {
	flags   *genericclioptions.ConfigFlags
	streams IOStreams
	once    sync.Once
	clients *Clients
	err     error
}

func newKubeFactory(flags *genericclioptions.ConfigFlags, streams IOStreams) Factory {
	return &kubeFactory{flags: flags, streams: streams}
}

func (f *kubeFactory) Namespace() (string, bool, error) {
	ns, explicit, err := f.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", false, usageErr(fmt.Errorf("reading the kubeconfig: %w", err))
	}
	return ns, explicit, nil
}

func (f *kubeFactory) Clients() (*Clients, error) {
	f.once.Do(func() {
		cfg, err := f.flags.ToRESTConfig()
		if err != nil {
			f.err = usageErr(fmt.Errorf("reading the kubeconfig: %w", err))
			return
		}
		cfg = rest.CopyConfig(cfg)
		cfg.WarningHandler = &warningWriter{out: f.streams.ErrOut, seen: map[string]bool{}}
		cfg.UserAgent = "kubectl-odh/" + version()
		c, err := client.NewWithWatch(cfg, client.Options{Scheme: Scheme})
		if err != nil {
			f.err = fmt.Errorf("creating the client: %w", err)
			return
		}
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			f.err = fmt.Errorf("creating the client: %w", err)
			return
		}
		f.clients = &Clients{Client: c, Kube: kube}
	})
	return f.clients, f.err
}

// options are shared by every command.
type options struct {
	streams IOStreams
	flags   *genericclioptions.ConfigFlags
	factory Factory
	now     func() time.Time
}

// namespace returns the namespace, refusing an empty one.
func (o *options) namespace() (string, bool, error) {
	ns, explicit, err := o.factory.Namespace()
	if err != nil {
		return "", false, err
	}
	if ns == "" {
		return "", false, usageErr(errors.New("a namespace is required: pass -n NAMESPACE"))
	}
	return ns, explicit, nil
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// NewRootCommand builds the `odh` command tree.
func NewRootCommand(streams IOStreams, newFactory NewFactory) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	flags.CacheDir = nil // no discovery cache, and no home-dependent default in the docs
	o := &options{streams: streams, flags: flags, factory: newFactory(flags, streams), now: time.Now}
	root := &cobra.Command{
		Use:   "odh",
		Short: "Run and inspect MPI training jobs",
		Long: `odh runs and inspects MPIJobs (kubeflow.org/v2beta1) on the platform.

Install the binary as kubectl-odh on your PATH to use it as "kubectl odh" or "oc odh".

Exit codes: 0 succeeded, 1 job failed (or another runtime error),
2 usage or validation error, 3 timeout or still queued, 4 not found or forbidden.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          func(c *cobra.Command, args []string) error { return c.Help() },
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl odh"},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	flags.AddFlags(root.PersistentFlags())
	root.AddCommand(newVersionCommand(o), newMPIJobCommand(o))
	root.CompletionOptions.HiddenDefaultCmd = false
	root.InitDefaultCompletionCmd()
	markRuntime(root)
	return root
}

// noArgs refuses arguments to a group command (cobra would print help).
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr(fmt.Errorf("unknown command %q for %q", args[0], c.CommandPath()))
	}
	return nil
}

// markRuntime wraps every RunE so that Execute can tell errors of a running
// command from cobra's parsing errors.
func markRuntime(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := run(cmd, args); err != nil {
				return &runtimeError{err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markRuntime(sub)
	}
}

func newVersionCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl-odh",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(o.streams.Out, "kubectl-odh %s\n", version())
			return err
		},
	}
}

// Execute runs the command line and returns the process exit code; errors
// are printed as one "error: ..." line on stderr.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, IOStreams{In: stdin, Out: stdout, ErrOut: stderr}, newKubeFactory)
}

func run(ctx context.Context, args []string, streams IOStreams, newFactory NewFactory) int {
	root := NewRootCommand(streams, newFactory)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitUsage
	var re *runtimeError
	if errors.As(err, &re) {
		code = ExitCode(re.err)
	} else if c := ExitCode(err); c != ExitJobFailed {
		code = c
	}
	fmt.Fprintln(streams.ErrOut, "error: "+errorLine(err, code))
	return code
}

// errorLine is the message after "error: ". Usage errors fit on one line;
// others keep their detail lines (a quota denial lists each resource).
func errorLine(err error, code int) string {
	if explained := mpijob.ExplainAdmissionError(err); explained != nil {
		err = explained
	}
	msg := strings.TrimSpace(err.Error())
	if code == ExitUsage && !IsAdmissionDenial(err) {
		msg = strings.Join(strings.Fields(msg), " ")
	}
	return msg
}
