using System.Diagnostics;
using k8s;
using k8s.Models;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Infra.Tests;

/// <summary>
/// Renders infra/k8s's overlays with kustomize (kubectl's built-in one), loads every object into the Kubernetes API's
/// typed models strictly (an unknown kind or field fails, the NuGet KubernetesClient's schema), and checks what
/// running Orleans silos on Kubernetes needs.
/// </summary>
public sealed class KubernetesManifestTests
{
    public static TheoryData<string> Overlays => new() { "dev", "prod" };

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task Overlay_renders_to_valid_api_objects(string overlay)
    {
        var objects = await RenderAsync(overlay);

        Assert.Contains(objects, o => o is V1Deployment { Metadata.Name: "orleansfeatures-gateway" });
        Assert.Contains(objects, o => o is V1Deployment { Metadata.Name: "orleansfeatures-worker" });
        Assert.All(objects.OfType<IKubernetesObject<V1ObjectMeta>>(), o => Assert.Equal(overlay == "dev" ? "orleansfeatures-dev" : "orleansfeatures", o.Metadata.NamespaceProperty ?? (o is V1Namespace ns ? ns.Metadata.Name : null)));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task Silo_pods_have_probes_on_the_silo_endpoints_a_grace_period_longer_than_shutdown_and_the_downward_api(string overlay)
    {
        var objects = await RenderAsync(overlay);
        var config = Assert.Single(objects.OfType<V1ConfigMap>(), c => c.Metadata.Name == "orleansfeatures-config").Data;
        var shutdown = TimeSpan.Parse(config["FeatureStore__Shutdown__Timeout"], System.Globalization.CultureInfo.InvariantCulture);
        var drain = TimeSpan.Parse(config["FeatureStore__Shutdown__ReadinessDrain"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(drain < shutdown, "the readiness drain is part of the stop, so shorter than it");

        foreach (var deployment in SiloDeployments(objects))
        {
            var pod = deployment.Spec.Template.Spec;
            var name = deployment.Metadata.Name;
            Assert.True(pod.TerminationGracePeriodSeconds > shutdown.TotalSeconds, $"{name}: terminationGracePeriodSeconds {pod.TerminationGracePeriodSeconds} must exceed the silo's stop ({shutdown.TotalSeconds} s)");
            Assert.True(pod.SecurityContext.RunAsNonRoot, $"{name}: must run as non-root");
            var container = Assert.Single(pod.Containers);
            var http = Assert.Single(container.Ports, p => p.Name == "http").ContainerPort;
            Assert.Equal($"http://0.0.0.0:{http}", config["Kestrel__Endpoints__Http__Url"]);

            Assert.Equal("/healthz/startup", container.StartupProbe.HttpGet.Path);
            Assert.Equal("/healthz/ready", container.ReadinessProbe.HttpGet.Path);
            Assert.Equal("/healthz/live", container.LivenessProbe.HttpGet.Path);
            foreach (var probe in new[] { container.StartupProbe, container.ReadinessProbe, container.LivenessProbe })
            {
                Assert.Equal("http", probe.HttpGet.Port.Value);
            }

            // The readiness drain must outlast a probe period, or traffic still arrives when listeners close.
            Assert.True(drain.TotalSeconds > container.ReadinessProbe.PeriodSeconds, $"{name}: drain {drain} is shorter than the readiness period");

            var env = container.Env.ToDictionary(e => e.Name);
            Assert.Equal("metadata.name", env["POD_NAME"].ValueFrom.FieldRef.FieldPath);
            Assert.Equal("metadata.namespace", env["POD_NAMESPACE"].ValueFrom.FieldRef.FieldPath);
            Assert.Equal("status.podIP", env["POD_IP"].ValueFrom.FieldRef.FieldPath);
            Assert.Equal("orleansfeatures", deployment.Spec.Template.Metadata.Labels["orleans/clusterId"]);
            Assert.Equal("orleansfeatures", deployment.Spec.Template.Metadata.Labels["orleans/serviceId"]);

            // Secrets only through a Secret: the ConfigMap and the pod spec hold no key.
            var secret = Assert.Single(container.EnvFrom, e => e.SecretRef is not null).SecretRef.Name;
            Assert.StartsWith("orleansfeatures-secrets", secret, StringComparison.Ordinal);
            Assert.All(container.Env, e => Assert.DoesNotContain("AccountKey=", e.Value ?? "", StringComparison.Ordinal));
            Assert.All(config.Values, v => Assert.DoesNotContain("AccountKey=", v, StringComparison.Ordinal));
            Assert.Equal("AzureStorage", config["FeatureStore__Mode"]);
            Assert.Equal("true", config["FeatureStore__Kubernetes"]);
        }

        var gateway = Assert.Single(SiloDeployments(objects), d => d.Metadata.Name == "orleansfeatures-gateway");
        var grpcService = Assert.Single(objects.OfType<V1Service>(), s => s.Metadata.Name == "orleansfeatures-grpc");
        Assert.Equal("grpc", Assert.Single(grpcService.Spec.Ports).TargetPort.Value);
        Assert.Contains(gateway.Spec.Template.Spec.Containers[0].Ports, p => p.Name == "grpc");
        Assert.True(Selects(grpcService.Spec.Selector, gateway));
        var metrics = Assert.Single(objects.OfType<V1Service>(), s => s.Metadata.Name == "orleansfeatures-metrics");
        Assert.All(SiloDeployments(objects), d => Assert.True(Selects(metrics.Spec.Selector, d), $"the metrics service does not select {d.Metadata.Name}"));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task Kubernetes_hosting_has_its_rbac_and_each_role_a_disruption_budget_and_a_load_based_autoscaler(string overlay)
    {
        var objects = await RenderAsync(overlay);
        var deployments = SiloDeployments(objects).ToList();
        var accounts = deployments.Select(d => d.Spec.Template.Spec.ServiceAccountName).Distinct().ToList();
        var account = Assert.Single(accounts);
        var binding = Assert.Single(objects.OfType<V1RoleBinding>(), b => b.Subjects.Any(s => s.Kind == "ServiceAccount" && s.Name == account));
        var role = Assert.Single(objects.OfType<V1Role>(), r => r.Metadata.Name == binding.RoleRef.Name);
        var pods = Assert.Single(role.Rules, r => r.Resources.Contains("pods"));
        Assert.Contains("", pods.ApiGroups);
        foreach (var verb in new[] { "get", "list", "watch", "delete" })
        {
            Assert.Contains(verb, pods.Verbs);
        }

        foreach (var deployment in deployments)
        {
            var name = deployment.Metadata.Name;
            var budget = Assert.Single(objects.OfType<V1PodDisruptionBudget>(), p => Selects(p.Spec.Selector.MatchLabels, deployment));
            Assert.True(budget.Spec.MaxUnavailable?.Value == "1" || budget.Spec.MinAvailable is not null, $"{name}: the budget must bound disruptions");
            var hpa = Assert.Single(objects.OfType<V2HorizontalPodAutoscaler>(), h => h.Spec.ScaleTargetRef.Name == name);
            Assert.NotEmpty(hpa.Spec.Metrics);
            Assert.All(hpa.Spec.Metrics, m => Assert.NotEqual("Resource", m.Type)); // not CPU: thread-pool spinning inflates it
            Assert.StartsWith("orleansfeatures_", hpa.Spec.Metrics[0].Pods.Metric.Name, StringComparison.Ordinal);
            Assert.True(hpa.Spec.MinReplicas <= deployment.Spec.Replicas && deployment.Spec.Replicas <= hpa.Spec.MaxReplicas, $"{name}: replicas outside the autoscaler's range");
            // One silo at a time leaves and hands its grains off; none goes before its replacement is ready.
            Assert.Equal("0", deployment.Spec.Strategy.RollingUpdate.MaxUnavailable.Value);
        }
    }

    [Fact]
    public async Task The_training_set_job_is_indexed_one_shard_per_completion_with_secrets_only_from_secrets()
    {
        var objects = await RenderFolderAsync(Path.Combine("infra", "k8s", "jobs", "training-set"));
        var job = Assert.Single(objects.OfType<V1Job>());
        var config = Assert.Single(objects.OfType<V1ConfigMap>()).Data;
        Assert.Equal("Indexed", job.Spec.CompletionMode);
        Assert.Equal(int.Parse(config["OFS_SHARDS"], System.Globalization.CultureInfo.InvariantCulture), job.Spec.Completions);
        Assert.InRange(job.Spec.Parallelism ?? 0, 1, job.Spec.Completions!.Value);
        Assert.All(objects.OfType<IKubernetesObject<V1ObjectMeta>>(), o => Assert.Equal("orleansfeatures", o.Metadata.NamespaceProperty));

        var pod = job.Spec.Template.Spec;
        Assert.Contains(pod.RestartPolicy, new[] { "Never", "OnFailure" });
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.Contains(objects.OfType<V1ServiceAccount>(), a => a.Metadata.Name == pod.ServiceAccountName);
        var container = Assert.Single(pod.Containers);
        var args = container.Args.ToList();
        Assert.Equal("training-set", args[0]);
        Assert.Equal("$(JOB_COMPLETION_INDEX)/$(OFS_SHARDS)", args[args.IndexOf("--shard") + 1]);
        Assert.Equal("/scratch", args[args.IndexOf("--temp-dir") + 1]);
        Assert.Contains(container.VolumeMounts, m => m.MountPath == "/scratch");

        // Every $(VAR) in the args is defined by the container: its env, or the parameters' ConfigMap.
        var defined = container.Env.Select(e => e.Name).Concat(config.Keys).ToHashSet(StringComparer.Ordinal);
        foreach (System.Text.RegularExpressions.Match reference in System.Text.RegularExpressions.Regex.Matches(string.Join(' ', args), @"\$\(([A-Z_]+)\)"))
        {
            Assert.Contains(reference.Groups[1].Value, defined);
        }

        Assert.Equal("metadata.annotations['batch.kubernetes.io/job-completion-index']", Assert.Single(container.Env, e => e.Name == "JOB_COMPLETION_INDEX").ValueFrom.FieldRef.FieldPath);
        Assert.NotNull(container.Resources.Requests["cpu"]);
        Assert.NotNull(container.Resources.Limits["memory"]);
        Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);

        // Secrets only through Secrets, as the silos have them.
        Assert.Contains(container.EnvFrom, e => e.SecretRef?.Name == "orleansfeatures-secrets");
        Assert.All(container.EnvFrom.Where(e => e.SecretRef is not null), e => Assert.StartsWith("orleansfeatures-", e.SecretRef.Name, StringComparison.Ordinal));
        Assert.Contains(container.EnvFrom, e => e.ConfigMapRef?.Name == Assert.Single(objects.OfType<V1ConfigMap>()).Metadata.Name);
        Assert.All(config.Values.Concat(container.Env.Select(e => e.Value ?? "")), v => Assert.DoesNotContain("AccountKey=", v, StringComparison.Ordinal));
    }

    private static IEnumerable<V1Deployment> SiloDeployments(List<object> objects) =>
        objects.OfType<V1Deployment>().Where(d => d.Metadata.Name.StartsWith("orleansfeatures-", StringComparison.Ordinal));

    private static bool Selects(IDictionary<string, string> selector, V1Deployment deployment) =>
        selector.All(label => deployment.Spec.Template.Metadata.Labels.TryGetValue(label.Key, out var value) && value == label.Value);

    /// <summary>Renders an overlay with <c>kubectl kustomize</c> (or a standalone <c>kustomize</c>) and loads it strictly.</summary>
    private static Task<List<object>> RenderAsync(string overlay) => RenderFolderAsync(Path.Combine("infra", "k8s", "overlays", overlay));

    private static async Task<List<object>> RenderFolderAsync(string folder)
    {
        var directory = Path.Combine(RepositoryPaths.Root, folder);
        var (tool, args) = FindOnPath("kubectl") is { } kubectl ? (kubectl, new[] { "kustomize", directory })
            : FindOnPath("kustomize") is { } kustomize ? (kustomize, new[] { "build", directory })
            : throw new InvalidOperationException("neither kubectl nor kustomize is on PATH (.ci/run installs kubectl: apt-get install kubernetes-client)");
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{tool} {string.Join(' ', args)} failed: {await errors}");
        // strict: a field the API does not define (a typo such as "readinesProbe") fails here instead of being dropped.
        return KubernetesYaml.LoadAllFromString(await output, strict: true);
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);
}
