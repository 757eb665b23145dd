using System.CommandLine;
using Grpc.Core;
using OrleansFeatures.Cli.Commands;
using OrleansFeatures.Offline.PointInTime;

namespace OrleansFeatures.Cli;

/// <summary>The <c>ofs</c> command tree and the error handling every command shares.</summary>
public static class OfsCommand
{
    public static readonly Option<string> OutputFormat = new("--output", "-o")
    {
        Description = "text (default) or json: one JSON document on stdout, for scripts",
        DefaultValueFactory = _ => "text",
        Recursive = true,
    };

    public static readonly Option<string> Address = new("--address")
    {
        Description = "the gateway's gRPC address (default: $OFS_ADDRESS, else http://127.0.0.1:5080)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OFS_ADDRESS") is { Length: > 0 } address ? address : "http://127.0.0.1:5080",
        Recursive = true,
    };

    public static readonly Option<string?> ApiKey = new("--api-key")
    {
        Description = "API key sent as x-api-key (default: $OFS_API_KEY)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OFS_API_KEY"),
        Recursive = true,
    };

    static OfsCommand() => OutputFormat.AcceptOnlyFromAmong("text", "json");

    public static RootCommand Build(TextWriter output, TextWriter error, bool interactive)
    {
        var root = new RootCommand("ofs: the OrleansFeatures command line (definitions, lookups, pushes, backfills, training sets)");
        root.Options.Add(OutputFormat);
        root.Options.Add(Address);
        root.Options.Add(ApiKey);
        var context = new CommandContext(output, error, interactive);
        root.Subcommands.Add(DefinitionCommands.Validate(context));
        root.Subcommands.Add(DefinitionCommands.Plan(context));
        root.Subcommands.Add(DefinitionCommands.Apply(context));
        root.Subcommands.Add(RegistryCommands.List(context));
        root.Subcommands.Add(RegistryCommands.Describe(context));
        root.Subcommands.Add(GetCommand.Create(context));
        root.Subcommands.Add(PushCommand.Push(context));
        root.Subcommands.Add(PushCommand.Backfill(context));
        root.Subcommands.Add(TrainingSetCommand.Create(context));
        root.Subcommands.Add(GenerateCommand.Create(context));
        return root;
    }

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, bool interactive, CancellationToken cancellationToken)
    {
        var root = Build(output, error, interactive);
        var parsed = root.Parse(args);
        return parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
    }
}

/// <summary>What every command needs: the writers, and a wrapper that maps failures to exit codes.</summary>
public sealed class CommandContext(TextWriter output, TextWriter error, bool interactive)
{
    public CliOutput OutputFor(ParseResult parse) => new(output, error, parse.GetValue(OfsCommand.OutputFormat) == "json", interactive);

    public static StoreConnection Connect(ParseResult parse) => new(parse.GetValue(OfsCommand.Address)!, parse.GetValue(OfsCommand.ApiKey));

    /// <summary>Runs a command body; failures become a message on stderr (and a JSON error on stdout with --output json) and an exit code.</summary>
    public async Task<int> RunAsync(ParseResult parse, Func<CliOutput, Task<int>> body)
    {
        var cli = OutputFor(parse);
        try
        {
            return await body(cli);
        }
        catch (RpcException rpc)
        {
            var code = rpc.StatusCode switch
            {
                StatusCode.InvalidArgument or StatusCode.NotFound or StatusCode.OutOfRange => ExitCodes.Invalid,
                StatusCode.FailedPrecondition or StatusCode.Aborted or StatusCode.AlreadyExists => ExitCodes.Refused,
                _ => ExitCodes.Unavailable,
            };
            return Fail(cli, code, $"{rpc.StatusCode}: {rpc.Status.Detail}");
        }
        catch (Exception exception) when (exception is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or TrainingSetException or ArgumentException or FormatException)
        {
            return Fail(cli, ExitCodes.Invalid, exception.Message);
        }
        catch (HttpRequestException http)
        {
            return Fail(cli, ExitCodes.Unavailable, http.Message);
        }
        catch (Azure.RequestFailedException storage)
        {
            // Blob / Data Lake storage refused or failed a call (a missing container, no access, the service down).
            return Fail(cli, ExitCodes.Unavailable, $"storage: {storage.Status} {storage.ErrorCode}: {storage.Message.Split('\n')[0]}");
        }
        catch (Azure.Identity.AuthenticationFailedException credential)
        {
            return Fail(cli, ExitCodes.Unavailable, $"storage credential: {credential.Message.Split('\n')[0]}");
        }
    }

    public static int Fail(CliOutput cli, int code, string message)
    {
        cli.Error.WriteLine($"error: {message}");
        if (cli.Json)
        {
            cli.WriteJson(new { error = message, exit_code = code });
        }

        return code;
    }
}
