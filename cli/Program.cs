using OrleansFeatures.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl+C stops the work cleanly (a backfill saves its progress); a second one ends the process.
    e.Cancel = !cancel.IsCancellationRequested;
    cancel.Cancel();
};
return await OfsCommand.RunAsync(args, Console.Out, Console.Error, !Console.IsErrorRedirected, cancel.Token);
