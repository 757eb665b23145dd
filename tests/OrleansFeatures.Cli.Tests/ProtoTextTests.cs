using OrleansFeatures.Core.Definitions;
using OrleansFeatures.V1;

namespace OrleansFeatures.Cli.Tests;

public class ProtoTextTests
{
    [Fact]
    public void Every_aggregation_prints_as_the_word_definition_files_use()
    {
        // A C# feature type is written as its name@version, which describe prints instead of the aggregation's word.
        foreach (var aggregation in Enum.GetValues<Aggregation>().Where(a => a is not (Aggregation.Unspecified or Aggregation.FeatureType)))
        {
            var word = ProtoText.Of(aggregation);

            Assert.True(AggregationNames.Parse(word) is not null, $"{aggregation} prints as '{word}', which definition files do not know");
        }

        Assert.Equal("count_distinct", ProtoText.Of(Aggregation.CountDistinct));
        Assert.Equal("last_n", ProtoText.Of(Aggregation.LastN));
    }

    [Fact]
    public void A_list_prints_as_the_json_the_training_set_holds_and_its_type_as_definitions_write_it()
    {
        var list = new Value { ListValue = new ValueList { Values = { new Value { StringValue = "c\"9" }, new Value { Int64Value = 4 }, new Value { BoolValue = true } } } };

        Assert.Equal("[\"c\\\"9\",4,true]", ProtoText.Of(list));
        Assert.Equal("[]", ProtoText.Of(new Value { ListValue = new ValueList() }));
        Assert.Equal("list<string>", ProtoText.Of(V1.ValueType.StringList));
        Assert.Equal("int64", ProtoText.Of(V1.ValueType.Int64));
    }
}
